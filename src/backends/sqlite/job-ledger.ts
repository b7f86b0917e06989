/**
 * Leasing and outcomes of jobs in the embedded backend, inside the caller's transaction:
 * claims (hook jobs and requeued tasks leased alone with a fencing token, fresh tasks leased as
 * a range), adoption of steps a completion made runnable, fenced outcomes, recovery of dead
 * nodes' jobs, and reconciliation of what a node says it holds.
 */
import { LeaseLostError } from '../../errors.js';
import type { SerializedError } from '../../errors.js';
import type { AdoptRequest, AdoptedStep, BackendEvent, ClaimRequest, ClaimResult, JobOutcome } from '../backend.js';
import {
  AFTER_SLOT,
  BEFORE_SLOT,
  MAX_TASKS_PER_STEP,
  SLOTS_PER_STEP,
  jobId,
  kindOfSlot,
  runnableStep,
  slotOf,
  stepPkOf,
} from './rows.js';
import type { StepRow, WorkflowRow } from './rows.js';
import type { Statements } from './statements.js';
import type { StepMachine } from './step-machine.js';

interface LeasedRow {
  id: number;
  data: string;
  failed_count: number;
  token: number;
}

interface RangeLease {
  id: number;
  step_pk: number;
  lo: number;
  hi: number;
}

const NODE_LOST: SerializedError = {
  name: 'NodeLostError',
  code: 'ERR_NODE_LOST',
  message:
    'the node running this job stopped responding (its lease expired without a heartbeat); the attempt was counted as failed',
};

export class JobLedger {
  constructor(
    private readonly q: Statements,
    /** nodes.pk of the nodes registered through this connection. */
    private readonly nodePks: ReadonlyMap<string, number>,
  ) {}

  claim(request: ClaimRequest, now: number): ClaimResult {
    if (this.q.nodeExists.get(request.nodeId) === undefined) {
      throw new LeaseLostError(`node ${request.nodeId} is not registered any more (its lease expired); it must register again`);
    }
    const owner = this.nodePks.get(request.nodeId);
    const step = this.q.stepById.get(request.workflowId, request.stepId) as StepRow | undefined;
    const empty: ClaimResult = { jobs: [], watchNextTask: false, taskCount: step?.total ?? 0 };
    if (step === undefined || step.status !== 'running' || owner === undefined) return empty;
    const jobs: ClaimResult['jobs'] = [];
    const toJob = (id: number, data: string, failedCount: number, token: number): void => {
      const slot = slotOf(id);
      jobs.push({
        id: String(id),
        workflowId: request.workflowId,
        stepId: request.stepId,
        kind: kindOfSlot(slot),
        seq: slot,
        dataJson: data,
        failedCount,
        token,
      });
    };
    if (step.stage === 'before' || step.stage === 'after') {
      const id = jobId(step.pk, step.stage === 'before' ? BEFORE_SLOT : AFTER_SLOT);
      const row = this.q.claimHook.get({ owner, id, now }) as LeasedRow | undefined;
      if (row !== undefined) toJob(row.id, row.data, row.failed_count, row.token);
    } else if (step.stage === 'tasks') {
      const base = step.pk * SLOTS_PER_STEP;
      const again = this.q.claimRequeued.all({ owner, lo: base + 1, hi: base + MAX_TASKS_PER_STEP, now, limit: request.limit }) as LeasedRow[];
      again.sort((a, b) => a.id - b.id);
      for (const row of again) toJob(row.id, row.data, row.failed_count, row.token);
      const room = request.limit - again.length;
      if (room > 0 && step.fresh_cursor < step.next_seq) {
        const lo = base + step.fresh_cursor + 1;
        const hi = base + Math.min(step.fresh_cursor + room, step.next_seq);
        for (const [id, data] of this.q.freshRange.all(lo, hi) as [number, string][]) toJob(id, data, 0, 0);
        this.q.insertLease.run(owner, step.pk, lo, hi);
        this.q.advanceCursor.run(hi - base, step.pk);
      }
    }
    if (jobs.length === 0) return empty;
    const workflow = this.q.getWorkflow.get(request.workflowId) as WorkflowRow;
    return { jobs, watchNextTask: workflow.watch_next_task === 1, taskCount: step.total, runIndex: step.run_index ?? 0 };
  }

  /** Claims the first jobs of steps this transaction made runnable, for handlers the node has. */
  adopt(adopt: AdoptRequest, events: readonly BackendEvent[], next: ClaimRequest | undefined, now: number): AdoptedStep[] {
    if (adopt.handlers.length === 0 || this.q.nodeExists.get(adopt.nodeId) === undefined) return [];
    const keys = new Set(adopt.handlers);
    const seen = new Set<string>();
    const adopted: AdoptedStep[] = [];
    for (const event of events) {
      if (event.type !== 'work') continue;
      const key = `${event.workflowId}\u0000${event.stepId}`;
      if (seen.has(key) || (next?.workflowId === event.workflowId && next.stepId === event.stepId)) continue;
      seen.add(key);
      const row = this.q.stepById.get(event.workflowId, event.stepId) as StepRow | undefined;
      if (row === undefined || row.status !== 'running') continue;
      const step = runnableStep(row, (this.q.getWorkflow.get(row.workflow_id) as WorkflowRow).name);
      if (!keys.has(step.handler.key)) continue;
      const limit = Math.min(adopt.limit, step.options.taskConcurrency);
      const claim = this.claim({ nodeId: adopt.nodeId, workflowId: event.workflowId, stepId: event.stepId, limit }, now);
      if (claim.jobs.length > 0) adopted.push({ step, claim });
    }
    return adopted;
  }

  /** Applies fenced outcomes, aggregates counts per step, then advances the touched steps. */
  applyOutcomes(outcomes: readonly JobOutcome[], machine: StepMachine, now: number): string[] {
    const stale: string[] = [];
    const counts = new Map<number, { done: number; failed: number; failing: string | null }>();
    const hookSteps = new Set<number>();
    const q = this.q;
    for (const outcome of outcomes) {
      const id = Number(outcome.id);
      const token = outcome.token;
      const fresh = token === 0;
      let applied: boolean;
      if (outcome.status === 'succeeded') {
        const error = outcome.error === null ? null : JSON.stringify(outcome.error);
        applied = fresh
          ? q.succeedFresh.run(outcome.resultJson, error, now, id).changes > 0
          : q.succeedLeased.run(outcome.resultJson, error, now, id, token).changes > 0;
      } else if (outcome.status === 'retry') {
        const runAt = outcome.retryDelayMs > 0 ? now + outcome.retryDelayMs : 0;
        const error = JSON.stringify(outcome.error);
        applied = fresh ? q.retryFresh.run(error, runAt, id).changes > 0 : q.retryLeased.run(error, runAt, id, token).changes > 0;
        if (applied && runAt === 0) machine.events.push({ type: 'work', workflowId: outcome.workflowId, stepId: outcome.stepId });
        if (!applied) stale.push(outcome.id);
        continue;
      } else {
        const error = JSON.stringify(outcome.error);
        applied = fresh ? q.failFresh.run(error, now, id).changes > 0 : q.failLeased.run(error, now, id, token).changes > 0;
      }
      if (!applied) {
        stale.push(outcome.id);
        continue;
      }
      const pk = stepPkOf(id);
      const slot = slotOf(id);
      if (slot === BEFORE_SLOT || slot === AFTER_SLOT) {
        hookSteps.add(pk);
        continue;
      }
      let count = counts.get(pk);
      if (count === undefined) {
        count = { done: 0, failed: 0, failing: null };
        counts.set(pk, count);
      }
      if (outcome.status === 'succeeded') count.done++;
      else {
        count.failed++;
        count.failing ??= JSON.stringify({ seq: slot, error: outcome.error });
      }
    }
    for (const [pk, count] of counts) {
      q.addCounts.run({ pk, ...count });
      machine.advance(pk);
    }
    for (const pk of hookSteps) machine.advance(pk);
    return stale;
  }

  /** Hands back everything a leaving node holds, without counting an attempt. */
  releaseAllOf(owner: number): void {
    this.q.releaseLeasedAloneBy.run(owner);
    for (const lease of this.q.rangesOf.all(owner) as RangeLease[]) {
      this.q.releaseFreshRange.run(lease.lo, lease.hi);
      this.q.deleteLease.run(lease.id);
    }
  }

  /** Takes back the jobs of nodes that are gone: each counts a failed attempt (NodeLostError). */
  recoverOrphans(machine: StepMachine, now: number, limit: number): number {
    // Jobs leased alone: one outcome each, through the usual path.
    const alone = this.q.orphanedAlone.all(limit) as { id: number; token: number; failed_count: number }[];
    const outcomes: JobOutcome[] = alone.map((job) => {
      const step = machine.stepRow(stepPkOf(job.id));
      const slot = slotOf(job.id);
      const lease = { id: String(job.id), workflowId: step.workflow_id, stepId: step.id, kind: kindOfSlot(slot), seq: slot, token: job.token };
      return job.failed_count + 1 >= step.max_attempts
        ? { ...lease, status: 'failed', error: NODE_LOST }
        : { ...lease, status: 'retry', error: NODE_LOST, retryDelayMs: step.retry_delay };
    });
    this.applyOutcomes(outcomes, machine, now);
    let recovered = outcomes.length;
    // Range leases: the fresh tasks left in them fail this attempt together.
    for (const lease of this.q.orphanedRanges.all(limit) as RangeLease[]) {
      recovered += this.recoverRange(lease, machine, now);
    }
    return recovered;
  }

  /** A dead node's range: its fresh tasks count one failed attempt (or fail for good). */
  private recoverRange(lease: RangeLease, machine: StepMachine, now: number): number {
    this.q.deleteLease.run(lease.id);
    const step = this.q.stepByPk.get(lease.step_pk) as StepRow | undefined;
    if (step === undefined) return 0;
    const error = JSON.stringify(NODE_LOST);
    const failed = this.q.failFreshRange.all({ lo: lease.lo, hi: lease.hi, error, now, maxAttempts: step.max_attempts }) as { id: number }[];
    const runAt = step.retry_delay > 0 ? now + step.retry_delay : 0;
    const retried = this.q.retryFreshRange.all({ lo: lease.lo, hi: lease.hi, error, runAt }) as { id: number }[];
    const first = failed.reduce((min, row) => Math.min(min, row.id), Infinity);
    if (failed.length > 0) {
      this.q.addCounts.run({
        pk: step.pk,
        done: 0,
        failed: failed.length,
        failing: JSON.stringify({ seq: slotOf(first), error: NODE_LOST }),
      });
      machine.advance(step.pk);
    }
    if (retried.length > 0 && runAt === 0) machine.events.push({ type: 'work', workflowId: step.workflow_id, stepId: step.id });
    return failed.length + retried.length;
  }

  /** Hands back every job the node holds that it did not list (after an ambiguous round trip). */
  reconcile(owner: number, keep: ReadonlySet<number>, machine: StepMachine): void {
    const touched = new Set<number>();
    for (const job of this.q.leasedAloneBy.all(owner) as { id: number; token: number }[]) {
      if (keep.has(job.id)) continue;
      this.q.releaseJob.run({ id: job.id, token: job.token });
      touched.add(stepPkOf(job.id));
    }
    for (const lease of this.q.rangesOf.all(owner) as RangeLease[]) {
      for (const { id } of this.q.freshIdsInRange.all(lease.lo, lease.hi) as { id: number }[]) {
        if (keep.has(id)) continue;
        this.q.releaseJob.run({ id, token: 0 });
        touched.add(lease.step_pk);
      }
    }
    for (const pk of touched) {
      const step = machine.stepRow(pk);
      machine.events.push({ type: 'work', workflowId: step.workflow_id, stepId: step.id });
    }
  }

}
