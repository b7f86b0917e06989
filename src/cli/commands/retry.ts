/** `deflow retry <id>`: runs a finished workflow again (workflow.retry), for the workers to pick up. */
import type { Command } from 'commander';
import DeFlow, { ValidationError } from '../../index.js';
import type { RetryOptions } from '../../index.js';
import { registerOptions, requireExistingStore, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import { printable } from '../format.js';

interface RetryFlags extends BackendOptions {
  from?: string;
  step?: string;
  failedOnly?: boolean;
}

/** The flags as retry options; a flag given without the one it needs is refused, naming both. */
function retryOptions(flags: RetryFlags): RetryOptions {
  if (flags.step !== undefined && flags.failedOnly !== true) {
    throw new ValidationError(`--step ${flags.step} needs --failed-only (retry only its failed tasks); to run it again from scratch, use --from ${flags.step}`);
  }
  if (flags.failedOnly === true && flags.step === undefined) throw new ValidationError('--failed-only needs --step <name>, the step whose failed tasks to retry');
  if (flags.from !== undefined && flags.step !== undefined) throw new ValidationError('give either --from <step> or --step <name> --failed-only, not both');
  if (flags.from !== undefined) return { from: flags.from };
  if (flags.step !== undefined) return { step: flags.step, failedOnly: true };
  return {};
}

export function retryCommand(program: Command): void {
  withBackendOptions(
    program
      .command('retry <id>')
      .description('run a failed (or cancelled) workflow again: failed work gets fresh attempts, succeeded work is kept')
      .option('--from <step>', 'run this step and every step after it again from scratch')
      .option('--step <name>', 'with --failed-only: retry only the failed tasks of this step')
      .option('--failed-only', "with --step: keep the step's succeeded tasks, retry its failed ones"),
  ).action(async (id: string, flags: RetryFlags) => {
    const options = retryOptions(flags);
    requireExistingStore(flags);
    // Only stores the retry: the workers (deflow worker, or your app's nodes) run it.
    await DeFlow.register({ ...registerOptions(flags), worker: false }).ready();
    try {
      const workflow = await DeFlow.retry(id, options);
      const { retries } = await workflow.refresh();
      process.stdout.write(`retried workflow ${printable(workflow.name)} (${printable(id)}), retry #${retries}: follow it with deflow show ${printable(id)}\n`);
    } finally {
      await DeFlow.unregister();
    }
  });
}
