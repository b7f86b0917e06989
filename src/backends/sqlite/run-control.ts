/**
 * Cancel, pause and resume of a workflow in the embedded backend, inside the caller's write
 * transaction (docs/backends/step-machine.md#run-control). Claims refuse a workflow that is
 * not pending or running (job-ledger.ts); here only the status moves, and a cancel drops the
 * workflow's leases so whatever its nodes still report is stale.
 */
import type { RunControlRequest, RunControlResult } from '../backend.js';
import { readForDisplay, storedNumber, UNREADABLE } from '../stored-records.js';
import { SLOTS_PER_STEP } from './rows.js';
import type { WorkflowRow } from './rows.js';
import { unsettledIds } from './range-lease.js';
import type { RangeLease } from './range-lease.js';
import type { Statements } from './statements.js';
import type { StepMachine } from './step-machine.js';

export function controlWorkflow(q: Statements, request: RunControlRequest, machine: StepMachine, now: number): RunControlResult | null {
  const workflow = q.getWorkflow.get(request.workflowId) as WorkflowRow | undefined;
  if (workflow === undefined) return null;
  const id = workflow.id;
  const status = workflow.status;
  const unchanged: RunControlResult = { changed: false, status, events: [] };
  switch (request.action) {
    case 'cancel': {
      if (status !== 'pending' && status !== 'running' && status !== 'paused') return unchanged;
      const keepMs = storedNumber(readForDisplay(workflow.options, UNREADABLE.workflowOptions).keepMs) ?? null; // corrupt: kept
      q.cancelWorkflow.run({ id, error: request.errorJson ?? null, now, expiresAt: keepMs === null ? null : now + keepMs });
      for (const { pk } of q.runningStepsOfWorkflow.all(id) as { pk: number }[]) dropLeases(q, pk);
      q.dropTimersOfWorkflow.run(id); // no node wakes for them any more
      machine.events.push({ type: 'workflow', workflowId: id, status: 'cancelled' });
      return { changed: true, status: 'cancelled', events: [] };
    }
    case 'pause':
      if (status !== 'pending' && status !== 'running') return unchanged;
      q.setWorkflowStatus.run({ id, status: 'paused' });
      return { changed: true, status: 'paused', events: [] };
    case 'resume':
      if (status !== 'paused') return unchanged;
      q.setWorkflowStatus.run({ id, status: 'running' });
      // Idle nodes look again; a delayed retry that fell due meanwhile is claimable now.
      for (const step of q.runningStepsOfWorkflow.all(id) as { id: string }[]) machine.events.push({ type: 'work', workflowId: id, stepId: step.id });
      resumeTimers(q, id, machine, now);
      return { changed: true, status: 'running', events: [] };
  }
}

/**
 * Timers that fell due while paused start now; nodes are woken for those still ahead (while
 * paused, runnableSteps' nextRunAt left them out).
 */
function resumeTimers(q: Statements, workflowId: string, machine: StepMachine, now: number): void {
  const timers = q.timersOfWorkflow.all(workflowId) as { pk: number; ready_at: number }[];
  for (const timer of timers) {
    if (timer.ready_at <= now) machine.start(timer.pk);
  }
  if (timers.some((timer) => timer.ready_at > now)) machine.events.push({ type: 'wake' });
}

/** Every job of the step leased to a node goes back to the queue, so its outcome is stale. */
function dropLeases(q: Statements, stepPk: number): void {
  const base = stepPk * SLOTS_PER_STEP;
  q.releaseLeasedAloneOfStep.run(base, base + SLOTS_PER_STEP - 1);
  for (const lease of q.rangesOfStep.all(stepPk) as RangeLease[]) {
    for (const jobId of unsettledIds(lease)) q.releaseJob.run({ id: jobId, token: 0 });
    q.deleteLease.run(lease.id);
  }
}
