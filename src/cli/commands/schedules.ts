/** `deflow schedules`: lists the stored schedules with their last and next tick. */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { openStoreToLook } from '../../api/store-look.js';
import { scheduleInfo } from '../../api/schedules/schedule-options.js';
import { registerOptions, requireExistingStore, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import { printable, tableStyle, timestamp } from '../format.js';

export function schedulesCommand(program: Command): void {
  withBackendOptions(program.command('schedules').description('list cron schedules (DeFlow.schedule) with their last and next tick')).action(async (options: BackendOptions) => {
    requireExistingStore(options);
    const backend = await openStoreToLook(registerOptions(options)); // only reads: creates, migrates and writes nothing
    try {
      const [records, now] = await Promise.all([backend.listSchedules(), backend.now()]);
      if (records.length === 0) {
        process.stdout.write(`no schedules in ${backend.location}\n`);
        return;
      }
      const head = ['name', 'cron', 'workflow', 'overlap', 'catch-up', 'last tick', 'last workflow', 'next tick'];
      const table = new Table({ head, style: tableStyle() });
      for (const record of records) {
        const info = scheduleInfo(record, now);
        const cron = info.timezone === null ? info.cron : `${info.cron} (${info.timezone})`;
        table.push([
          printable(info.name),
          printable(cron),
          printable(info.workflow),
          info.overlap,
          info.catchUp,
          timestamp(info.lastTick?.getTime() ?? null),
          info.lastWorkflowId === null ? '' : printable(info.lastWorkflowId),
          info.nextRun === null ? 'never' : timestamp(info.nextRun.getTime()),
        ]);
      }
      process.stdout.write(`${table.toString()}\n`);
    } finally {
      await backend.close();
    }
  });
}
