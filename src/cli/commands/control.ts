/** `deflow cancel | pause | resume <id>`: run control of a stored workflow, from any shell. */
import type { Command } from 'commander';
import { controlStoredRun } from '../../api/run-control.js';
import type { RunControlAction } from '../../backends/backend.js';
import { registerOptions, requireExistingStore, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import { printable } from '../format.js';

const DONE: Record<RunControlAction, string> = { cancel: 'cancelled', pause: 'paused', resume: 'resumed' };

export function controlCommands(program: Command): void {
  withBackendOptions(
    program
      .command('cancel <id>')
      .description('cancel a workflow: its running tasks are aborted on every node, nothing of it runs again')
      .option('--reason <text>', 'why (stored as the workflow\'s error)'),
  ).action(async (id: string, options: BackendOptions & { reason?: string }) => act('cancel', id, options, options.reason));
  withBackendOptions(program.command('pause <id>').description('pause a workflow: running tasks finish, nothing new starts until resume')).action(
    async (id: string, options: BackendOptions) => act('pause', id, options),
  );
  withBackendOptions(program.command('resume <id>').description('resume a paused workflow')).action(async (id: string, options: BackendOptions) =>
    act('resume', id, options),
  );
}

/** Exit 0 when the workflow changed; 1 when it was not in a state the command applies to (nothing changed), saying which. */
async function act(action: RunControlAction, id: string, options: BackendOptions, reason?: string): Promise<void> {
  requireExistingStore(options);
  const result = await controlStoredRun(registerOptions(options), id, action, reason);
  if (result.changed) {
    process.stdout.write(`${DONE[action]} workflow ${printable(id)}\n`);
    return;
  }
  process.stderr.write(`workflow ${printable(id)} is ${result.status}: ${action} changes nothing\n`);
  process.exitCode = 1;
}
