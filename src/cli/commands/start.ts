/**
 * `deflow start <name> --workflows <dir>`: starts the workflow a definition (defineWorkflow)
 * builds from --input, and prints its id on stdout. With --id the start is idempotent: a
 * workflow with that id that exists is not started again (said on stderr, its id printed all
 * the same). This process runs no work (`deflow worker` processes do); --wait follows the
 * workflow to its end with progress bars, exit code 1 when it did not succeed.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import DeFlow, { ValidationError } from '../../index.js';
import { registerOptions, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import { printable } from '../format.js';
import { followWithProgress } from '../progress.js';
import { cliMilliseconds, reportProblems, withStartupTimeout } from '../startup.js';
import { outcomeLine, summaryTable } from '../summary.js';
import { enableTypeScript } from '../ts-loader.js';
import { loadWorkflowModules } from '../workflow-modules.js';

interface StartOptions extends BackendOptions {
  input?: string;
  id?: string;
  key?: string;
  workflows?: string[];
  wait?: boolean;
  startupTimeout: string;
}

export function startCommand(program: Command): void {
  const command = withBackendOptions(
    program
      .command('start <name>')
      .description('start the workflow a definition (defineWorkflow) builds from --input, and print its id')
      .option('-w, --workflows <dir>', 'directory of workflow definition modules to load (searched recursively; repeatable)', collect)
      .option('-i, --input <json>', 'the input given to the definition, as JSON')
      .option('--id <id>', 'the workflow id: a workflow with this id that exists is not started again')
      .option('--key <key>', 'a business key stored with the workflow (deflow ls --key)')
      .option('--wait', 'follow the workflow to its end with progress, exit code 1 unless it succeeded'),
  );
  withStartupTimeout(command).action(async (name: string, options: StartOptions) => {
    enableTypeScript();
    const input = parseInput(options.input);
    const startupTimeout = cliMilliseconds(options.startupTimeout, '--startup-timeout', 0);
    const dirs = options.workflows ?? [];
    // What the definitions import (their steps) may lie in their directories too.
    const stepDirs = dirs.map((dir) => resolve(dir));
    if (dirs.length > 0) await loadWorkflowModules(dirs, stepDirs, 'start');
    const deflow = DeFlow.register({ ...registerOptions(options), worker: false, startupTimeout, ...(stepDirs.length === 0 ? {} : { stepDirs }) });
    reportProblems(deflow, 'start');
    try {
      await deflow.ready();
      const workflow = await DeFlow.start(name, input, { ...(options.id === undefined ? {} : { id: options.id }), ...(options.key === undefined ? {} : { key: options.key }) });
      process.stderr.write(
        workflow.created === false
          ? `workflow ${printable(workflow.id)} exists already (${printable(workflow.name)}, ${workflow.status}): not started again\n`
          : `started workflow ${printable(workflow.name)}\n`,
      );
      process.stdout.write(`${printable(workflow.id)}\n`);
      if (options.wait === true) {
        const result = await followWithProgress(workflow);
        process.stdout.write(`\n${summaryTable(result)}\n${outcomeLine(result)}\n`);
        if (result.status !== 'succeeded') process.exitCode = 1;
      }
    } finally {
      await DeFlow.unregister();
    }
  });
}

function parseInput(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ValidationError(`--input must be JSON (e.g. --input '{"orderId": "42"}'): ${(error as Error).message}`);
  }
}

/** Commander collector: a repeated option adds to the list instead of replacing it. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
