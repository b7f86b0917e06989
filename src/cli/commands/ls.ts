/** `deflow ls`: lists stored workflows, newest first. */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { openStoreToLook } from '../../api/store-look.js';
import { ValidationError } from '../../index.js';
import type { WorkflowStatus } from '../../index.js';
import { registerOptions, requireExistingStore, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import { duration, printable, since, tableStyle, timestamp } from '../format.js';
import { anyLiveNode, shownStatus } from '../liveness.js';

/** Most rows `ls` lists: past it a backend fails with its own error (an integer out of range). */
const MAX_LIMIT = 100_000;

const STATUSES: readonly WorkflowStatus[] = ['pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled'];

export function lsCommand(program: Command): void {
  withBackendOptions(
    program
      .command('ls')
      .description('list workflows, newest first')
      .option('--status <status>', `only this status (${STATUSES.join(', ')})`)
      .option('--name <name>', 'only workflows with this name')
      .option('--key <key>', 'only workflows with this business key')
      .option('-n, --limit <n>', `how many (1 to ${MAX_LIMIT})`, '20'),
  ).action(async (options: BackendOptions & { status?: string; name?: string; key?: string; limit: string }) => {
    if (options.status !== undefined && !STATUSES.includes(options.status as WorkflowStatus)) {
      throw new ValidationError(`--status must be one of ${STATUSES.join(', ')}, got ${printable(options.status)}`);
    }
    const limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw new ValidationError(`-n/--limit must be an integer between 1 and ${MAX_LIMIT}, got "${printable(options.limit)}"`);
    }
    requireExistingStore(options);
    const backend = await openStoreToLook(registerOptions(options)); // only reads: creates, migrates and writes nothing
    try {
      const workflows = await backend.listWorkflows({
        limit,
        ...(options.status === undefined ? {} : { status: options.status as WorkflowStatus }),
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.key === undefined ? {} : { key: options.key }),
      });
      if (workflows.length === 0) {
        process.stdout.write(`no workflows in ${backend.location}\n`);
        return;
      }
      const live = workflows.some((w) => w.status === 'running') ? await anyLiveNode(backend) : true;
      // The key column only when a workflow listed has one.
      const keyed = workflows.some((w) => w.key !== null);
      const head = ['id', 'name', ...(keyed ? ['key'] : []), 'status', 'steps left', 'created', 'took'];
      const table = new Table({ head, style: tableStyle() });
      for (const w of workflows) {
        const key = keyed ? [w.key === null ? '' : printable(w.key)] : [];
        table.push([printable(w.id), printable(w.name), ...key, shownStatus(w.status, live), String(w.openSteps), timestamp(w.createdAt), duration(since(w.startedAt ?? w.createdAt, w.finishedAt))]);
      }
      process.stdout.write(`${table.toString()}\n`);
    } finally {
      await backend.close();
    }
  });
}
