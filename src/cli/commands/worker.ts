/**
 * `deflow worker --steps <dir>`: joins the backend as a node that runs the step handlers
 * defined in the modules of each <dir> (.ts, .js, .mjs), until SIGINT/SIGTERM, then drains. A
 * module's default export must be a StepHandler; a module with no default export may export
 * handlers by name (one exporting none, a helper, is not counted). `--workflows <dir>` loads the
 * workflow definitions (defineWorkflow) of each <dir> the same way, so this process can start
 * them by name; those directories are trusted like --steps ones.
 * The node may import step modules from the --steps, --workflows and --allow directories only:
 * never from its working directory, which may be `/` (a service started from there would import any file).
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
import { exported, importScanned } from '../module-import.js';
import { enableTypeScript } from '../ts-loader.js';
import { cliMilliseconds, reportProblems, withStartupTimeout } from '../startup.js';
import { printable } from '../format.js';
import { loadWorkflowModules } from '../workflow-modules.js';

export function workerCommand(program: Command): void {
  const command = withBackendOptions(
    program
      .command('worker')
      .description('join as a node running the step handlers found in --steps, until interrupted')
      .option('-s, --steps <dir>', 'directory of step modules, imported at start and allowed (searched recursively; repeatable)', collect)
      .option('-w, --workflows <dir>', 'directory of workflow definition modules (defineWorkflow), imported at start and allowed (repeatable)', collect)
      .option('--allow <dir>', 'directory whose modules may be imported when a stored step names them, not at start (repeatable)', collect)
      .option('-q, --queues <names>', 'comma-separated queues whose steps this node runs (step option queue)', 'default')
      .option('--lease <ms>', 'node lease in milliseconds', '10000')
      .option('--check-interval <ms>', 'how often to look for work of dead nodes, in milliseconds', '2000'),
  );
  withStartupTimeout(command).action(async (options: WorkerOptions) => {
    enableTypeScript();
    if (options.steps === undefined && options.workflows === undefined) {
      throw new ValidationError('give the directories of your step modules (--steps <dir>), of your workflow definitions (--workflows <dir>), or both');
    }
    const stepsDirs = (options.steps ?? []).map((dir) => resolve(dir));
    const workflowsDirs = (options.workflows ?? []).map((dir) => resolve(dir));
    const allowDirs = (options.allow ?? []).map((dir) => existingDir(dir, '--allow'));
    // Exactly the directories given: the working directory is not one of them.
    const stepDirs = [...new Set([...stepsDirs, ...workflowsDirs, ...allowDirs])];
    let loaded = 0;
    if (options.steps !== undefined) {
      // Each entry judged on its real path by the rule stored steps are judged by.
      const scan = scanStepModules(stepsDirs, stepDirs);
      for (const line of scan.skipped) process.stderr.write(`deflow worker: ${line}\n`);
      if (scan.modules.length === 0) throw new ValidationError(`no step modules (.ts, .mts, .js, .mjs) found in ${options.steps.join(', ')}`);
      for (const module of scan.modules) {
        if (await importStepModule(module)) loaded += 1;
        else process.stderr.write(`deflow worker: ${module.path} exports no StepHandler; it is not counted as a step module\n`);
      }
    }
    const definitions = options.workflows === undefined ? [] : await loadWorkflowModules(options.workflows, stepDirs, 'worker');
    const leaseMs = cliMilliseconds(options.lease, '--lease', 100);
    const checkProcessQueueInterval = cliMilliseconds(options.checkInterval, '--check-interval', 0);
    const startupTimeout = cliMilliseconds(options.startupTimeout, '--startup-timeout', 0);
    // Each name is checked by DeFlow.register (queues[i]); empty entries of "a,,b" are dropped.
    const queues = options.queues.split(',').map((queue) => queue.trim()).filter((queue) => queue !== '');
    const deflow = DeFlow.register({ ...registerOptions(options), leaseMs, checkProcessQueueInterval, stepDirs, startupTimeout, queues });
    // Also each attempt to reach a backend that is down at start ("connect"), with the next delay.
    reportProblems(deflow, 'worker');
    await deflow.ready();
    const backend = (await deflow.services()).backend;
    const defined = definitions.length === 0 ? '' : `, workflow definitions: ${definitions.map((name) => printable(name)).join(', ')}`;
    const served = `queues ${queues.map((queue) => printable(queue)).join(', ')}`;
    process.stderr.write(`deflow worker ${process.pid} on ${backend.kind} (${backend.location}), ${served}, ${loaded} step modules loaded${defined}\n`);
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
  steps?: string[];
  workflows?: string[];
  allow?: string[];
  queues: string;
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

/** Imports a step module; false when it exports no StepHandler at all (a helper or a types module). */
export async function importStepModule(module: ScannedModule): Promise<boolean> {
  const exports = await importScanned(module, 'step module', 'worker', '--steps');
  if ('default' in exports && exports.default !== undefined) {
    if (isStepHandler(exports.default)) return true;
    throw new StepModuleError(
      `step module ${module.path} default-exports ${exported(exports.default)}, not a StepHandler; ` +
        'write "export default new StepHandler({ ... })" in it, or move it out of --steps',
    );
  }
  return Object.values(exports).some(isStepHandler);
}
