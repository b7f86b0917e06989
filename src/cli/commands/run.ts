/**
 * `deflow run <file>`: imports a module whose default export is a WorkFlow (or a function
 * returning one), runs it on this process (plus any `deflow worker`), and follows it to
 * the end with progress bars. Exit code 0 when it succeeds, 1 otherwise.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import DeFlow, { DeflowError, StepModuleError, ValidationError } from '../../index.js';
import type { WorkFlow } from '../../index.js';
import { registerOptions, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import { printable } from '../format.js';
import { cliMilliseconds, reportProblems, withStartupTimeout } from '../startup.js';
import { followWithProgress } from '../progress.js';
import { outcomeLine, summaryTable } from '../summary.js';
import { enableTypeScript } from '../ts-loader.js';

export function runCommand(program: Command): void {
  const command = withBackendOptions(
    program
      .command('run <file>')
      .description('run the workflow a .ts/.js module default-exports (a WorkFlow, or a function returning one) and follow it')
      .option('--no-worker', 'only start and follow the workflow; let `deflow worker` processes run it'),
  );
  withStartupTimeout(command).action(async (file: string, options: BackendOptions & { worker: boolean; startupTimeout: string }) => {
    enableTypeScript();
    const path = resolve(file);
    if (!existsSync(path)) throw new ValidationError(`no workflow module at ${path}`);
    const startupTimeout = cliMilliseconds(options.startupTimeout, '--startup-timeout', 0);
    const deflow = DeFlow.register({ ...registerOptions(options), worker: options.worker, startupTimeout });
    // Each attempt to reach a backend that is down at start, and later background problems.
    reportProblems(deflow, 'run');
    await deflow.ready();
    try {
      const module = await importWorkflowModule(path, file);
      const workflow = await toWorkflow(module.default, file);
      const started = isDraft(workflow) ? workflow.run() : workflow;
      process.stderr.write(`workflow ${printable(started.name)} (${printable(started.id)})\n`);
      if (!options.worker) await warnWithoutWorkers();
      const result = await followWithProgress(started);
      process.stdout.write(`\n${summaryTable(result)}\n${outcomeLine(result)}\n`);
      if (result.status !== 'succeeded') process.exitCode = 1;
    } finally {
      await DeFlow.unregister();
    }
  });
}

/** With --no-worker, a run nobody works on would just wait: say so. */
async function warnWithoutWorkers(): Promise<void> {
  const { backend } = await DeFlow.getInstance().services();
  if ((await backend.listNodes()).length > 0) return;
  process.stderr.write(
    `no worker is running on ${backend.kind} (${backend.location}) yet: the workflow waits until one joins, ` +
      'e.g. deflow worker --steps <dir> with the same --backend\n',
  );
}

async function importWorkflowModule(path: string, file: string): Promise<{ default?: unknown }> {
  try {
    return (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    if (error instanceof DeflowError && error.message.startsWith('DeFlow is already registered')) {
      throw new ValidationError(`${file} calls DeFlow.register(): remove that call, deflow run registers this process itself (use --backend to choose the backend)`);
    }
    throw new StepModuleError(`${file} failed to load: ${(error as Error).message}`, { cause: error });
  }
}

async function toWorkflow(exported: unknown, file: string): Promise<WorkFlow> {
  const value = typeof exported === 'function' ? await (exported as () => unknown)() : exported;
  if (!isWorkflow(value)) {
    throw new Error(
      `${file} must default-export a WorkFlow or a function returning one, e.g.\n` +
        "  export default WorkFlow.create('name').addStep({ step: myStep, tasks: [...] });",
    );
  }
  return value;
}

/** Duck-typed: the module may use another copy of deflow than this CLI. */
function isWorkflow(value: unknown): value is WorkFlow {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as WorkFlow).run === 'function' &&
    typeof (value as WorkFlow).done === 'function' &&
    typeof (value as WorkFlow).id === 'string'
  );
}

function isDraft(workflow: WorkFlow): boolean {
  return workflow.state === 'draft';
}
