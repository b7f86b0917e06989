/**
 * Leasing and outcomes of jobs in the embedded backend, inside the caller's transaction:
 * claims (hook jobs and requeued tasks leased alone with a fencing token, fresh tasks leased as
 * a range), adoption of steps a completion made runnable, fenced outcomes, recovery of dead
 * nodes' jobs, and reconciliation of what a node says it holds.
 */
import type { AdoptRequest, AdoptedStep, BackendEvent, ClaimRequest, ClaimResult, JobLease, Json } from '../backend.js';
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
import { nodeLost, refusalError } from '../failures.js';
import type { StoredError } from '../failures.js';
import { lostForGood, maxNodeLossesOf, servesStep } from '../policy.js';
import { readForDisplay, storedNumber, UNREADABLE } from '../stored-records.js';
import { MAX_LEASE_SPAN, covers, isSettled, markSettled, noneSettled, unsettledIds } from './range-lease.js';
import type { RangeLease } from './range-lease.js';
import { RateBuckets, logStarts, rateRoom } from './rate-gate.js';
import type { Statements } from './statements.js';
import type { StepMachine } from './step-machine.js';

/** An outcome as the ledger records it: the engine's (a JobOutcome), or a node loss the backend decides. */
type RecordedOutcome = JobLease &
  (
    | { status: 'succeeded'; resultJson: Json | null; error: StoredError | null }
    | { status: 'retry'; error: StoredError; retryDelayMs: number }
    | { status: 'failed'; error: StoredError }
    /** Lost with its node (the node-loss rule): ready again after `retryDelayMs`, or failed for good. */
    | { status: 'lost'; error: StoredError; forGood: boolean; retryDelayMs: number }
  );

interface LeasedRow {
  id: number;
  data: string;
  failed_count: number;
  token: number;
  lost_count: number;
}


/** A ready task a limited claim looks at: its concurrency bucket and its rate bucket. */
interface Candidate {
  id: number;
  bucket: string | null;
  rate_bucket: string | null;
}

/** Most ready tasks of a limited step one claim looks at (more when it asks for more). */
const LIMITED_SCAN = 2_000;

export class JobLedger {
  constructor(
    private readonly q: Statements,
    /** nodes.pk of the nodes registered through this connection. */
    private readonly nodePks: ReadonlyMap<string, number>,
  ) {}

  claim(request: ClaimRequest, now: number): ClaimResult {
    if (this.q.nodeExists.get(request.nodeId) === undefined) {
      throw refusalError({ code: 'ERR_LEASE_LOST', nodeId: request.nodeId });
    }
    const owner = this.nodePks.get(request.nodeId);
    const step = this.q.stepById.get(request.workflowId, request.stepId) as StepRow | undefined;
    const empty: ClaimResult = { jobs: [], watchNextTask: false, taskCount: step?.total ?? 0 };
    if (step === undefined || step.status !== 'running' || owner === undefined) return empty;
    // Paused or finished (cancelled): nothing is claimed. The row is read once, for watch too.
    const workflow = this.q.getWorkflow.get(request.workflowId) as WorkflowRow;
    if (workflow.status !== 'running' && workflow.status !== 'pending') return empty;
    const jobs: ClaimResult['jobs'] = [];
    let rateLimitedMs: number | undefined;
    let unknownRateLimit: string | undefined;
    const toJob = (id: number, data: string, failedCount: number, token: number, lostCount: number): void => {
      const slot = slotOf(id);
      jobs.push({
        id: String(id),
        workflowId: request.workflowId,
        stepId: request.stepId,
        kind: kindOfSlot(slot),
        seq: slot,
        dataJson: data,
        failedCount,
        lostCount,
        token,
      });
    };
    if (step.stage === 'before' || step.stage === 'after') {
      const id = jobId(step.pk, step.stage === 'before' ? BEFORE_SLOT : AFTER_SLOT);
      const row = this.q.claimHook.get({ owner, id, now }) as LeasedRow | undefined;
      if (row !== undefined) toJob(row.id, row.data, row.failed_count, row.token, row.lost_count);
    } else if (step.stage === 'tasks' && step.rate_key !== null && step.rate_limit !== null) {
      // A keyed rate limit: each task's bucket has its own room, so tasks are leased alone.
      const buckets = RateBuckets.open(this.q, step.rate_limit, now);
      if (buckets === null) unknownRateLimit = step.rate_limit;
      this.claimLimited(step, owner, request.limit, now, toJob, buckets ?? undefined);
      if (buckets !== null) {
        buckets.log();
        rateLimitedMs = buckets.waitMs;
      }
    } else if (step.stage === 'tasks') {
      // A rate-limited step starts only what its limit has room for (rate-gate.ts), whichever path.
      const gate = step.rate_limit === null ? null : rateRoom(this.q, step.rate_limit, now);
      if (step.rate_limit !== null && gate === null) unknownRateLimit = step.rate_limit;
      const limit = gate === null ? request.limit : Math.min(request.limit, gate.room);
      if (step.global_limit !== null || step.key_limit !== null) this.claimLimited(step, owner, limit, now, toJob);
      else this.claimTasks(step, owner, limit, now, toJob);
      if (gate !== null) rateLimitedMs = logStarts(this.q, gate, request.limit, jobs.length, now);
    }
    const limited = rateLimitedMs === undefined ? {} : { rateLimitedMs };
    if (jobs.length === 0) return { ...empty, ...limited };
    const result: ClaimResult = { jobs, watchNextTask: workflow.watch_next_task === 1, taskCount: step.total, runIndex: step.run_index ?? 0, ...limited };
    if (unknownRateLimit !== undefined) result.unknownRateLimit = unknownRateLimit;
    return result;
  }

  /** Leases up to `limit` tasks: ready-again ones in seq order, then fresh ones as ranges. */
  private claimTasks(
    step: StepRow,
    owner: number,
    limit: number,
    now: number,
    toJob: (id: number, data: string, failedCount: number, token: number, lostCount: number) => void,
  ): void {
    if (limit <= 0) return;
    const base = step.pk * SLOTS_PER_STEP;
    const again = this.q.claimRequeued.all({ owner, lo: base + 1, hi: base + MAX_TASKS_PER_STEP, now, limit }) as LeasedRow[];
    again.sort((a, b) => a.id - b.id);
    for (const row of again) toJob(row.id, row.data, row.failed_count, row.token, row.lost_count);
    let room = limit - again.length;
    let cursor = step.fresh_cursor;
    while (room > 0 && cursor < step.next_seq) {
      const span = Math.min(room, MAX_LEASE_SPAN, step.next_seq - cursor);
      const lo = base + cursor + 1;
      const hi = base + cursor + span;
      const leaseId = Number(this.q.insertLease.run(owner, step.pk, lo, hi, noneSettled(lo, hi)).lastInsertRowid);
      // A range job's token names its lease (negative, so it never equals a job's own token).
      for (const [id, data] of this.q.freshRange.all(lo, hi) as [number, string][]) toJob(id, data, 0, -leaseId, 0);
      cursor += span;
      room -= span;
    }
    if (cursor !== step.fresh_cursor) this.q.advanceCursor.run(cursor, step.pk);
  }

  /**
   * The claim rule of a limited step (docs/backends/step-machine.md): its tasks are leased alone,
   * ready-again ones first then fresh ones, each in seq order, skipping a task whose bucket holds
   * keyConcurrency leased tasks (or, with a keyed rate limit, whose rate bucket has no room), until
   * the step holds globalConcurrency. Its fresh cursor marks the prefix of tasks no longer fresh,
   * so a claim never rescans them.
   */
  private claimLimited(
    step: StepRow,
    owner: number,
    limit: number,
    now: number,
    toJob: (id: number, data: string, failedCount: number, token: number, lostCount: number) => void,
    rate?: RateBuckets,
  ): void {
    const base = step.pk * SLOTS_PER_STEP;
    const lo = base + 1;
    const hi = base + MAX_TASKS_PER_STEP;
    let room = limit;
    if (step.global_limit !== null) room = Math.min(room, step.global_limit - (this.q.leasedInRange.get(lo, hi) as { n: number }).n);
    if (room <= 0) return;
    const keyLimit = step.key_limit;
    const inFlight = new Map<string, number>();
    const keyFits = (bucket: string | null): boolean => {
      if (keyLimit === null || bucket === null) return true;
      const n = inFlight.get(bucket) ?? (this.q.leasedInBucket.get(bucket) as { n: number }).n;
      inFlight.set(bucket, n);
      return n < keyLimit;
    };
    const fits = (row: Candidate): boolean => keyFits(row.bucket) && (rate === undefined || rate.fits(row.rate_bucket));
    const lease = (candidate: Candidate): void => {
      const row = this.q.leaseAlone.get({ owner, id: candidate.id }) as LeasedRow | undefined;
      if (row === undefined) return;
      if (candidate.bucket !== null) inFlight.set(candidate.bucket, (inFlight.get(candidate.bucket) ?? 0) + 1);
      rate?.took(candidate.rate_bucket);
      toJob(row.id, row.data, row.failed_count, row.token, row.lost_count);
      room--;
    };
    const scan = Math.max(LIMITED_SCAN, limit);
    for (const row of this.q.requeuedCandidates.all({ lo, hi, now, scan }) as Candidate[]) {
      if (room === 0) return;
      if (fits(row)) lease(row);
    }
    let cursor = step.fresh_cursor;
    let prefix = true; // every fresh task up to here was leased: the cursor may move past it
    for (const row of this.q.freshCandidates.all({ lo: base + cursor + 1, hi, scan }) as Candidate[]) {
      if (room === 0) break;
      if (fits(row)) {
        lease(row);
        if (prefix) cursor = row.id - base;
      } else {
        prefix = false;
      }
    }
    if (cursor !== step.fresh_cursor) this.q.advanceCursor.run(cursor, step.pk);
  }

  /** Claims the first jobs of steps this transaction made runnable, for handlers and queues the node has. */
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
      if (!keys.has(step.handler.key) || !servesStep(adopt.queues, step.options)) continue;
      const limit = Math.min(adopt.limit, step.options.taskConcurrency);
      const claim = this.claim({ nodeId: adopt.nodeId, workflowId: event.workflowId, stepId: event.stepId, limit }, now);
      if (claim.jobs.length > 0) adopted.push({ step, claim });
    }
    return adopted;
  }

  /**
   * Applies fenced outcomes, aggregates counts per step, then advances the touched steps.
   * Successes of range jobs become one range_results row per lease and call; everything else
   * updates its job row.
   */
  applyOutcomes(outcomes: readonly RecordedOutcome[], machine: StepMachine, now: number): string[] {
    const stale: string[] = [];
    const counts = new Map<number, { done: number; failed: number; failing: string | null }>();
    const hookSteps = new Set<number>();
    const ranges = new RangeBook(this.q);
    const q = this.q;
    for (const outcome of outcomes) {
      const id = Number(outcome.id);
      const token = outcome.token;
      let applied: boolean;
      let batched = false;
      if (token < 0) {
        const lease = ranges.lease(-token);
        if (lease === null || !covers(lease, id) || isSettled(lease, id)) {
          stale.push(outcome.id);
          continue;
        }
        ranges.settle(lease, id);
        if (outcome.status === 'succeeded' && outcome.error === null) {
          ranges.success(lease, id, outcome.resultJson);
          batched = true;
          applied = true;
        } else {
          applied = this.applyToRow(outcome, id, now, machine, true);
        }
      } else if (token > 0) {
        applied = this.applyToRow(outcome, id, now, machine, false);
      } else {
        applied = false;
      }
      if (!applied) {
        stale.push(outcome.id);
        continue;
      }
      if (outcome.status === 'retry' || (outcome.status === 'lost' && !outcome.forGood)) continue;
      const pk = stepPkOf(id);
      const slot = slotOf(id);
      if (!batched && (slot === BEFORE_SLOT || slot === AFTER_SLOT)) {
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
        count.failing ??= JSON.stringify({ seq: outcome.seq, error: outcome.error });
      }
    }
    ranges.write(now);
    for (const [pk, count] of counts) {
      q.addCounts.run({ pk, ...count });
      machine.advance(pk);
    }
    for (const pk of hookSteps) machine.advance(pk);
    return stale;
  }

  /** Hands claimed, never-started jobs back; no attempt is counted. */
  release(jobs: readonly JobLease[], machine: StepMachine): void {
    const ranges = new RangeBook(this.q);
    const steps = new Set<string>();
    for (const job of jobs) {
      const id = Number(job.id);
      let released = false;
      if (job.token < 0) {
        const lease = ranges.lease(-job.token);
        if (lease !== null && covers(lease, id) && !isSettled(lease, id)) {
          ranges.settle(lease, id);
          released = this.q.releaseJob.run({ id, token: 0 }).changes > 0;
        }
      } else if (job.token > 0) {
        released = this.q.releaseJob.run({ id, token: job.token }).changes > 0;
      }
      if (released && !steps.has(job.stepId)) {
        steps.add(job.stepId);
        machine.events.push({ type: 'work', workflowId: job.workflowId, stepId: job.stepId });
      }
    }
    ranges.write(0);
  }

  /** The per-row path: jobs leased alone, and range jobs whose outcome is not a plain success. */
  private applyToRow(outcome: RecordedOutcome, id: number, now: number, machine: StepMachine, fresh: boolean): boolean {
    const q = this.q;
    const token = outcome.token;
    if (outcome.status === 'succeeded') {
      const error = outcome.error === null ? null : JSON.stringify(outcome.error);
      return fresh
        ? q.succeedFresh.run(outcome.resultJson, error, now, id).changes > 0
        : q.succeedLeased.run(outcome.resultJson, error, now, id, token).changes > 0;
    }
    const error = JSON.stringify(outcome.error);
    if (outcome.status === 'lost') {
      if (outcome.forGood) {
        return fresh ? q.loseFreshForGood.run(error, now, id).changes > 0 : q.loseLeasedForGood.run(error, now, id, token).changes > 0;
      }
      const runAt = outcome.retryDelayMs > 0 ? now + outcome.retryDelayMs : 0;
      const again = fresh ? q.loseFreshAgain.run(error, runAt, id).changes > 0 : q.loseLeasedAgain.run(error, runAt, id, token).changes > 0;
      if (again && runAt === 0) machine.events.push({ type: 'work', workflowId: outcome.workflowId, stepId: outcome.stepId });
      return again;
    }
    if (outcome.status === 'retry') {
      const runAt = outcome.retryDelayMs > 0 ? now + outcome.retryDelayMs : 0;
      const applied = fresh ? q.retryFresh.run(error, runAt, id).changes > 0 : q.retryLeased.run(error, runAt, id, token).changes > 0;
      if (applied && runAt === 0) machine.events.push({ type: 'work', workflowId: outcome.workflowId, stepId: outcome.stepId });
      return applied;
    }
    return fresh ? q.failFresh.run(error, now, id).changes > 0 : q.failLeased.run(error, now, id, token).changes > 0;
  }

  /** Hands back everything a leaving node holds, without counting an attempt. */
  releaseAllOf(owner: number): void {
    this.q.releaseLeasedAloneBy.run(owner);
    for (const lease of this.q.rangesOf.all(owner) as RangeLease[]) {
      for (const id of unsettledIds(lease)) this.q.releaseJob.run({ id, token: 0 });
      this.q.deleteLease.run(lease.id);
    }
  }

  /**
   * Takes back the jobs of nodes that are gone, by the node-loss rule: each loss counts in
   * lost_count (not failed_count); the job is ready again after the retry delay, or fails for
   * good once it was lost maxNodeLosses times.
   */
  recoverOrphans(machine: StepMachine, now: number, limit: number): number {
    // Jobs leased alone: one outcome each, through the usual path.
    const alone = this.q.orphanedAlone.all(limit) as { id: number; token: number; lost_count: number }[];
    const outcomes: RecordedOutcome[] = alone.map((job) => {
      const step = machine.stepRow(stepPkOf(job.id));
      const slot = slotOf(job.id);
      const kind = kindOfSlot(slot);
      const max = storedMaxNodeLosses(step);
      const lease = { id: String(job.id), workflowId: step.workflow_id, stepId: step.id, kind, seq: slot, token: job.token };
      const error = nodeLost(step.name, { kind, seq: slot }, job.lost_count + 1, max);
      return { ...lease, status: 'lost', error, forGood: lostForGood(job.lost_count, max), retryDelayMs: step.retry_delay };
    });
    this.applyOutcomes(outcomes, machine, now);
    let recovered = outcomes.length;
    // Range leases: the fresh tasks left in them are lost together.
    for (const lease of this.q.orphanedRanges.all(limit) as RangeLease[]) {
      recovered += this.recoverRange(lease, machine, now);
    }
    return recovered;
  }

  /** A dead node's range: each task without an outcome is lost once (its first loss: it was fresh). */
  private recoverRange(lease: RangeLease, machine: StepMachine, now: number): number {
    this.q.deleteLease.run(lease.id);
    const step = this.q.stepByPk.get(lease.step_pk) as StepRow | undefined;
    if (step === undefined) return 0;
    const max = storedMaxNodeLosses(step);
    const forGood = lostForGood(0, max);
    const runAt = step.retry_delay > 0 ? now + step.retry_delay : 0;
    let failed = 0;
    let retried = 0;
    let first: string | null = null;
    for (const id of unsettledIds(lease)) {
      const seq = slotOf(id);
      const record = nodeLost(step.name, { kind: 'task', seq }, 1, max);
      const error = JSON.stringify(record);
      if (forGood) {
        if (this.q.loseFreshForGood.run(error, now, id).changes === 0) continue;
        failed++;
        first ??= JSON.stringify({ seq, error: record });
      } else if (this.q.loseFreshAgain.run(error, runAt, id).changes > 0) {
        retried++;
      }
    }
    if (failed > 0) {
      this.q.addCounts.run({ pk: step.pk, done: 0, failed, failing: first });
      machine.advance(step.pk);
    }
    if (retried > 0 && runAt === 0) machine.events.push({ type: 'work', workflowId: step.workflow_id, stepId: step.id });
    return failed + retried;
  }

  /** Hands back every job the node holds that it did not list (after an ambiguous round trip). */
  reconcile(owner: number, keep: ReadonlySet<number>, machine: StepMachine): void {
    const touched = new Set<number>();
    for (const job of this.q.leasedAloneBy.all(owner) as { id: number; token: number }[]) {
      if (keep.has(job.id)) continue;
      this.q.releaseJob.run({ id: job.id, token: job.token });
      touched.add(stepPkOf(job.id));
    }
    const ranges = new RangeBook(this.q);
    for (const lease of this.q.rangesOf.all(owner) as RangeLease[]) {
      for (const id of unsettledIds(lease)) {
        if (keep.has(id)) continue;
        ranges.settle(lease, id);
        this.q.releaseJob.run({ id, token: 0 });
        touched.add(lease.step_pk);
      }
    }
    ranges.write(0);
    for (const pk of touched) {
      const step = machine.stepRow(pk);
      machine.events.push({ type: 'work', workflowId: step.workflow_id, stepId: step.id });
    }
  }
}

/**
 * The range leases touched by one call: loaded once, their settled bits changed in memory,
 * written back once, with the successes of each lease stored as one range_results row.
 */
class RangeBook {
  private readonly leases = new Map<number, RangeLease | null>();
  private readonly dirty = new Set<RangeLease>();
  private readonly successes = new Map<RangeLease, { ids: number[]; results: string[] }>();

  constructor(private readonly q: Statements) {}

  lease(id: number): RangeLease | null {
    let lease = this.leases.get(id);
    if (lease === undefined) {
      lease = (this.q.leaseById.get(id) as RangeLease | undefined) ?? null;
      this.leases.set(id, lease);
    }
    return lease;
  }

  settle(lease: RangeLease, id: number): void {
    markSettled(lease, id);
    this.dirty.add(lease);
  }

  success(lease: RangeLease, id: number, resultJson: string | null): void {
    let batch = this.successes.get(lease);
    if (batch === undefined) {
      batch = { ids: [], results: [] };
      this.successes.set(lease, batch);
    }
    batch.ids.push(id);
    // Each result is kept as its JSON text (a JSON string), or null when the handler returned nothing.
    batch.results.push(resultJson === null ? 'null' : JSON.stringify(resultJson));
  }

  write(now: number): void {
    for (const lease of this.dirty) this.q.setLeaseSettled.run(lease.settled, lease.id);
    for (const [lease, batch] of this.successes) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const id of batch.ids) {
        if (id < lo) lo = id;
        if (id > hi) hi = id;
      }
      this.q.insertRangeResults.run(lease.step_pk, lo, hi, `[${batch.ids.join(',')}]`, `[${batch.results.join(',')}]`, now);
    }
  }
}

/** A step's maxNodeLosses from its stored options; the default when they or it are unusable. */
function storedMaxNodeLosses(step: StepRow): number {
  return maxNodeLossesOf({ maxNodeLosses: storedNumber(readForDisplay(step.options, UNREADABLE.options).maxNodeLosses) });
}
