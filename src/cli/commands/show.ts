/** `deflow show <id>`: one workflow's steps, progress and errors. */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { unservedStepLines } from '../../api/queue-check.js';
import { openStoreToLook } from '../../api/store-look.js';
import { registerOptions, requireExistingStore, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import type { EventRecord, StepRecord } from '../../backends/records.js';
import { duration, printable, since, tableStyle, timestamp, truncate } from '../format.js';
import { anyLiveNode, shownStatus } from '../liveness.js';

/** The most received events `show` lists (the latest). */
const EVENTS_SHOWN = 20;

/** Steps held back by events ("waiting for event payment.settled") and the events received. */
function eventLines(steps: readonly StepRecord[], events: readonly EventRecord[]): string {
  const received = new Set(events.map((event) => event.name));
  const lines: string[] = [];
  for (const step of steps) {
    if (step.eventWait === null) continue;
    const missing = (step.options.waitFor ?? []).filter((name) => !received.has(name)).map(printable);
    const due = step.eventWait.dueAt === null ? '' : `, times out ${timestamp(step.eventWait.dueAt)}`;
    lines.push(`${printable(step.name)} waiting for event ${missing.join(', ')} (since ${timestamp(step.eventWait.since)}${due})`);
  }
  if (events.length > 0) {
    lines.push(`events received (${events.length}):`);
    if (events.length > EVENTS_SHOWN) lines.push(`  ... ${events.length - EVENTS_SHOWN} earlier`);
    for (const event of events.slice(-EVENTS_SHOWN)) {
      lines.push(`  ${timestamp(event.at)} ${printable(event.name)} ${truncate(event.dataJson, 60)} (id ${truncate(event.id, 40)})`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export function showCommand(program: Command): void {
  withBackendOptions(program.command('show <id>').description("show a workflow's steps, progress and errors")).action(
    async (id: string, options: BackendOptions) => {
      requireExistingStore(options);
      const backend = await openStoreToLook(registerOptions(options)); // only reads: creates, migrates and writes nothing
      try {
        const workflow = await backend.getWorkflow(id);
        if (workflow === null) {
          process.stderr.write(`no workflow ${printable(id)} in ${backend.location} (it may have been removed by retention); try: deflow ls\n`);
          process.exitCode = 1;
          return;
        }
        const live = workflow.status === 'running' ? await anyLiveNode(backend) : true;
        const lines = [
          `${printable(workflow.name)} (${printable(workflow.id)})`,
          ...(workflow.key === null ? [] : [`  key      ${printable(workflow.key)}`]),
          `  status   ${shownStatus(workflow.status, live)}`,
          `  created  ${timestamp(workflow.createdAt)}`,
          `  took     ${duration(since(workflow.startedAt ?? workflow.createdAt, workflow.finishedAt))}`,
        ];
        if (workflow.retries > 0) lines.push(`  retried  ${workflow.retries}x`);
        if (workflow.error !== null) lines.push(`  error    ${printable(workflow.error.message)}`);
        process.stdout.write(`${lines.join('\n')}\n`);
        const steps = await backend.getSteps(id);
        const table = new Table({ head: ['#', 'step', 'status', 'progress', 'failed', 'took', 'error'], style: tableStyle() });
        for (const step of steps) {
          const done = step.counts.done + step.counts.failed;
          table.push([
            step.runIndex === null ? '-' : String(step.runIndex),
            printable(step.parentId === null ? step.name : `  ${step.name} (added by ${step.parentId})`),
            stepStatus(step),
            `${done}/${step.counts.total}`,
            String(step.counts.failed),
            duration(since(step.startedAt, step.finishedAt)),
            step.error === null ? '' : truncate(step.error.message, 60),
          ]);
        }
        process.stdout.write(`${table.toString()}\n`);
        process.stdout.write(eventLines(steps, await backend.getEvents(id)));
        if (workflow.status === 'running') {
          for (const line of unservedStepLines(steps, await backend.listNodes())) process.stdout.write(`${printable(line)}\n`);
        }
        for (const step of steps.filter((s) => s.counts.failed > 0)) {
          const failed = (await backend.getTasks(id, step.id, { afterSeq: 0, limit: 100_000 })).filter((t) => t.status === 'failed');
          process.stdout.write(`failed tasks of ${printable(step.name)}:\n`);
          for (const task of failed.slice(0, 10)) {
            // Attempts counted apart: failures (taskMaxFailCount) and losses with a node (maxNodeLosses).
            const attempts = `failed ${task.failedCount}x, lost with its node ${task.lostCount}x`;
            process.stdout.write(
              `  #${task.seq} ${truncate(task.dataJson, 60)} -> ${printable(task.error?.name ?? 'Error')}: ${truncate(task.error?.message ?? '', 120)} (${attempts})\n`,
            );
          }
          if (failed.length > 10) process.stdout.write(`  ... and ${failed.length - 10} more\n`);
        }
      } finally {
        await backend.close();
      }
    },
  );
}

/** A step waiting for its timer says until when (the backend's clock). */
function stepStatus(step: StepRecord): string {
  if (step.status === 'waiting' && step.readyAt !== null) return `waiting until ${new Date(step.readyAt).toISOString()}`;
  return step.status;
}
