/**
 * `deflow worker --steps <dir>`: joins the backend as a node that runs the step handlers
 * defined in the modules of each <dir> (.ts, .js, .mjs), until SIGINT/SIGTERM, then drains. A
 * module's default export must be a StepHandler; a module with no default export may export
 * handlers by name (one exporting none, a helper, is not counted).
 * The node may import step modules from the --steps and --allow directories only: never from its
 * working directory, which may be `/` (a service started from there would import any file).
 * A backend that is down at start is waited for (--startup-timeout), each attempt told on stderr.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import DeFlow, { StepModuleError, ValidationError } from '../../index.js';
import { isStepHandler } from '../../api/step-handler.js';
import { scanStepModules } from '../../api/step-module-scan.js';
import type { ScannedModule } from '../../api/step-module-scan.js';
import { registerOptions, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import { enableTypeScript } from '../ts-loader.js';
import { cliMilliseconds, reportProblems, withStartupTimeout } from '../startup.js';

export function workerCommand(program: Command): void {
  const command = withBackendOptions(
    program
      .command('worker')
      .description('join as a node running the step handlers found in --steps, until interrupted')
      .requiredOption('-s, --steps <dir>', 'directory of step modules, imported at start and allowed (searched recursively; repeatable)', collect)
      .option('--allow <dir>', 'directory whose modules may be imported when a stored step names them, not at start (repeatable)', collect)
      .option('--lease <ms>', 'node lease in milliseconds', '10000')
      .option('--check-interval <ms>', 'how often to look for work of dead nodes, in milliseconds', '2000'),
  );
  withStartupTimeout(command).action(async (options: WorkerOptions) => {
    enableTypeScript();
    const stepsDirs = options.steps.map((dir) => resolve(dir));
    const allowDirs = (options.allow ?? []).map((dir) => existingDir(dir, '--allow'));
    // Exactly the directories given: the working directory is not one of them.
    const stepDirs = [...new Set([...stepsDirs, ...allowDirs])];
    // Each entry judged on its real path by the rule stored steps are judged by.
    const scan = scanStepModules(stepsDirs, stepDirs);
    for (const line of scan.skipped) process.stderr.write(`deflow worker: ${line}\n`);
    if (scan.modules.length === 0) throw new ValidationError(`no step modules (.ts, .mts, .js, .mjs) found in ${options.steps.join(', ')}`);
    let loaded = 0;
    for (const module of scan.modules) {
      if (await importStepModule(module)) loaded += 1;
      else process.stderr.write(`deflow worker: ${module.path} exports no StepHandler; it is not counted as a step module\n`);
    }
    const leaseMs = cliMilliseconds(options.lease, '--lease', 100);
    const checkProcessQueueInterval = cliMilliseconds(options.checkInterval, '--check-interval', 0);
    const startupTimeout = cliMilliseconds(options.startupTimeout, '--startup-timeout', 0);
    const deflow = DeFlow.register({ ...registerOptions(options), leaseMs, checkProcessQueueInterval, stepDirs, startupTimeout });
    // Also each attempt to reach a backend that is down at start ("connect"), with the next delay.
    reportProblems(deflow, 'worker');
    await deflow.ready();
    const backend = (await deflow.services()).backend;
    process.stderr.write(`deflow worker ${process.pid} on ${backend.kind} (${backend.location}), ${loaded} step modules loaded\n`);
    await new Promise<void>((done) => {
      const stop = (signal: string): void => {
        process.stderr.write(`${signal}: finishing running tasks, handing back the rest...\n`);
        void DeFlow.unregister().then(done);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
  });
}

interface WorkerOptions extends BackendOptions {
  steps: string[];
  allow?: string[];
  lease: string;
  checkInterval: string;
  startupTimeout: string;
}

/** Commander collector: a repeated option adds to the list instead of replacing it. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function existingDir(dir: string, flag: string): string {
  const path = resolve(dir);
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    // said below
  }
  if (!isDirectory) throw new ValidationError(`${flag} ${dir}: ${path} is not an existing directory`);
  return path;
}

/** Past this, a module still importing is named: one waiting at top level would hang the worker unseen. */
const SLOW_IMPORT_MS = 5_000;

/** Imports a step module; false when it exports no StepHandler at all (a helper or a types module). */
export async function importStepModule({ path: file, url }: ScannedModule): Promise<boolean> {
  let namespace: Record<string, unknown>;
  const slow = setTimeout(() => {
    process.stderr.write(
      `deflow worker: still importing ${file} after ${SLOW_IMPORT_MS / 1000} s (a module that waits at top level? point --steps at step modules only)\n`,
    );
  }, SLOW_IMPORT_MS);
  // A top-level await on something nothing can settle any more: Node would exit silently.
  const stuck = (): void => {
    process.stderr.write(`deflow worker: ${file} never finished loading: its top-level await waits on something that can never settle\n`);
    process.exitCode = 1;
  };
  process.once('beforeExit', stuck);
  try {
    namespace = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new StepModuleError(`step module ${file} failed to load: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(slow);
    process.off('beforeExit', stuck);
  }
  const exports = moduleExports(namespace);
  if ('default' in exports && exports.default !== undefined) {
    if (isStepHandler(exports.default)) return true;
    throw new StepModuleError(
      `step module ${file} default-exports ${exported(exports.default)}, not a StepHandler; ` +
        'write "export default new StepHandler({ ... })" in it, or move it out of --steps',
    );
  }
  return Object.values(exports).some(isStepHandler);
}

/** What a module exports: for CommonJS (TypeScript compiled to it too), its exports object. */
function moduleExports(namespace: Record<string, unknown>): Record<string, unknown> {
  const commonJs = namespace.default as { __esModule?: unknown } | null | undefined;
  if (typeof commonJs === 'object' && commonJs !== null && commonJs.__esModule === true) return commonJs;
  return namespace;
}

function exported(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `a function${value.name === '' ? '' : ` (${value.name})`}`;
  if (typeof value === 'object') {
    const kind = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof kind === 'string' && kind !== '' && kind !== 'Object' ? `a ${kind}` : 'a plain object';
  }
  const shown = typeof value === 'symbol' ? value.toString() : JSON.stringify(value);
  return `${typeof value} ${shown}`.slice(0, 80);
}
