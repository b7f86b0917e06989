/**
 * The embedded backend: one SQLite file (WAL), shared by every process on the machine that
 * opens it. Every write is one immediate transaction; transitions are decided inside it by
 * the StepMachine. better-sqlite3 is synchronous, so each call is one "round trip" of
 * microseconds and batching is about transaction count, not latency.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { systemClock } from '../../clock.js';
import type { Clock } from '../../clock.js';
import { BackendError, DeflowError, LeaseLostError, NotFoundError, StepClosedError, ValidationError } from '../../errors.js';
import type { SerializedError } from '../../errors.js';
import type {
  AdoptRequest,
  AdoptedStep,
  Backend,
  BackendEvent,
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  CompleteResult,
  EventListener,
  JobLease,
  JobOutcome,
  NewAnchoredSteps,
  NewNode,
  NewStep,
  NewTasks,
  NewWorkflow,
  RecoverResult,
  RunnableStep,
  RunnableSteps,
  TaskPage,
  WorkflowQuery,
} from '../backend.js';
import type { NodeRecord, StepRecord, TaskRecord, WorkflowRecord } from '../types.js';
import { openDatabase } from './connection.js';
import type { SqliteDatabase } from './connection.js';
import { EventLog } from './event-log.js';
import {
  AFTER_SLOT,
  BEFORE_SLOT,
  MAX_STEP_PK,
  MAX_TASKS_PER_STEP,
  SLOTS_PER_STEP,
  jobId,
  kindOfSlot,
  slotOf,
  stepPkOf,
  toNodeRecord,
  toStepRecord,
  toTaskRecord,
  toWorkflowRecord,
} from './rows.js';
import type { NodeRow, StepRow, TaskRow, WorkflowRow } from './rows.js';
import { prepareStatements } from './statements.js';
import type { Statements } from './statements.js';
import { StepMachine } from './step-machine.js';

export interface SqliteBackendOptions {
  /** Database file, or `:memory:` (one process only). */
  path: string;
  /** How often idle processes check whether another process changed the file. Default 50 ms. */
  pollIntervalMs?: number;
  /** How long a write waits for another process's transaction. Default 10 s. */
  busyTimeoutMs?: number;
  clock?: Clock;
}

/** Stages during which a phase may still add steps after itself. */
const OPEN_STAGE_OF_PHASE = { before: 'before', task: 'tasks', after: 'after' } as const;

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

interface StepPlacement {
  declIndex: number;
  anchorPk: number | null;
  anchorPhase: string | null;
  anchorSeq: number | null;
  parentId: string | null;
}

export class SqliteBackend implements Backend {
  readonly kind = 'sqlite';
  readonly location: string;
  private readonly clock: Clock;
  private readonly origin = randomUUID();
  private readonly nodePks = new Map<string, number>();
  private db: SqliteDatabase | null = null;
  private q!: Statements;
  private log!: EventLog;

  constructor(private readonly options: SqliteBackendOptions) {
    this.location = options.path;
    this.clock = options.clock ?? systemClock;
  }

  async open(): Promise<void> {
    if (this.db !== null) return;
    const db = openDatabase(this.options.path, this.options.busyTimeoutMs ?? 10_000);
    this.q = prepareStatements(db);
    this.log = new EventLog(db, this.q, this.origin, this.options.pollIntervalMs ?? 50);
    this.db = db;
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.db === null) return;
    this.log.close();
    this.db.close();
    this.db = null;
    return Promise.resolve();
  }

  async now(): Promise<number> {
    return Promise.resolve(this.clock.now());
  }

  // --- definition -----------------------------------------------------------------------------

  async createWorkflow(workflow: NewWorkflow): Promise<{ created: boolean; events: BackendEvent[] }> {
    const { value, events } = this.write((machine, now) => {
      if (workflow.replaceByName) {
        for (const { id } of this.q.idsByNameExcept.all({ name: workflow.name, id: workflow.id }) as { id: string }[]) {
          this.deleteWorkflowRows(id);
        }
      }
      const inserted = this.q.insertWorkflow.run({
        id: workflow.id,
        name: workflow.name,
        options: JSON.stringify(workflow.options),
        now,
        watch: workflow.watchNextTask ? 1 : 0,
        openSteps: workflow.steps.length,
      });
      if (inserted.changes === 0) return false;
      const pks = new Map<string, number>();
      workflow.steps.forEach((step, declIndex) => {
        const pk = this.insertStep(workflow.id, step, {
          declIndex,
          anchorPk: null,
          anchorPhase: null,
          anchorSeq: null,
          parentId: null,
        });
        if (pk === null) throw new ValidationError(`two steps of workflow ${workflow.id} have the id "${step.id}"`);
        pks.set(step.id, pk);
      });
      for (const step of workflow.steps) {
        for (const dep of step.deps) {
          const parentPk = pks.get(dep.stepId);
          if (parentPk === undefined) {
            throw new ValidationError(`step "${step.name}" depends on unknown step id "${dep.stepId}"`);
          }
          this.q.insertEdge.run(parentPk, pks.get(step.id), dep.on);
        }
      }
      machine.touch(workflow.id);
      for (const step of workflow.steps) {
        if (step.deps.length === 0) machine.start(pks.get(step.id) ?? -1);
      }
      return true;
    });
    return Promise.resolve({ created: value, events });
  }

  async addAnchoredSteps(input: NewAnchoredSteps): Promise<{ added: number }> {
    const { value } = this.write((machine) => {
      const anchor = this.requireStep(input.workflowId, input.anchorStepId);
      const openStage = OPEN_STAGE_OF_PHASE[input.phase];
      if (anchor.status !== 'running' || anchor.stage !== openStage) {
        throw new StepClosedError(
          `cannot add a step after the ${input.phase} phase of step "${anchor.name}": that phase is over ` +
            `(step is ${anchor.status}, stage ${anchor.stage}). Call step.addAfter() from inside beforeAll, handler or afterAll.`,
        );
      }
      let declIndex = (this.q.nextDeclIndex.get(input.workflowId) as { next: number }).next;
      let added = 0;
      for (const step of input.steps) {
        const { child_seq } = this.q.reserveChildSeq.get(anchor.pk) as { child_seq: number };
        const pk = this.insertStep(input.workflowId, step, {
          declIndex: declIndex++,
          anchorPk: anchor.pk,
          anchorPhase: input.phase,
          anchorSeq: child_seq,
          parentId: anchor.id,
        });
        if (pk === null) continue; // already added by an earlier attempt of the same hook
        this.q.addOpenSteps.run({ id: input.workflowId, delta: 1 });
        added++;
      }
      machine.touch(input.workflowId);
      return added;
    });
    return Promise.resolve({ added: value });
  }

  async addTasks(input: NewTasks): Promise<{ added: number; total: number }> {
    const { value } = this.write((machine) => {
      const step = this.requireStep(input.workflowId, input.stepId);
      const open =
        (step.status === 'waiting' || step.status === 'running') &&
        (step.stage === 'before' || step.stage === 'before-children' || step.stage === 'tasks');
      if (!open) {
        throw new StepClosedError(
          `cannot add tasks to step "${step.name}": its tasks already ran (step is ${step.status}, stage ${step.stage}). ` +
            'Add a new step with step.addAfter({ step, tasks }) instead.',
        );
      }
      if (input.batchKey !== undefined && this.q.batchApplied.run(step.pk, input.batchKey).changes === 0) {
        return { added: 0, total: step.total };
      }
      this.insertTasks(step.pk, input.tasksJson);
      if (step.status === 'running' && step.stage === 'tasks' && input.tasksJson.length > 0) {
        machine.events.push({ type: 'work', workflowId: input.workflowId, stepId: input.stepId });
      }
      return { added: input.tasksJson.length, total: step.total + input.tasksJson.length };
    });
    return Promise.resolve(value);
  }

  async watchNextTask(workflowId: string): Promise<void> {
    this.write((machine) => {
      this.q.watchNextTask.run(workflowId);
      machine.events.push({ type: 'watch', workflowId });
    });
    return Promise.resolve();
  }

  // --- work -----------------------------------------------------------------------------------

  async runnableSteps(limit: number): Promise<RunnableSteps> {
    const now = this.clock.now();
    const rows = this.database().transaction(() => ({
      steps: this.q.runnableSteps.all({ now, limit }) as (StepRow & { workflow_name: string })[],
      next: (this.q.nextRunAt.get(now) as { next: number | null }).next,
    }))();
    return Promise.resolve({
      steps: rows.steps.map((row) => runnableStep(row, row.workflow_name)),
      nextRunAt: rows.next,
      now,
    });
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    const { value } = this.write((_machine, now) => this.claimInTransaction(request, now));
    return Promise.resolve(value);
  }

  async complete(request: CompleteRequest): Promise<CompleteResult> {
    const { value, events } = this.write((machine, now) => {
      if (request.events !== undefined) machine.events.push(...request.events);
      const stale = this.applyOutcomes(request.outcomes, machine, now);
      const claimed = request.next === undefined ? undefined : this.claimInTransaction(request.next, now);
      const adopted = request.adopt === undefined ? undefined : this.adoptInTransaction(request.adopt, machine.events, request.next, now);
      return { stale, claimed, adopted };
    });
    const result: CompleteResult = { stale: value.stale, events };
    if (value.claimed !== undefined) result.claimed = value.claimed;
    if (value.adopted !== undefined && value.adopted.length > 0) result.adopted = value.adopted;
    return Promise.resolve(result);
  }

  async release(jobs: JobLease[]): Promise<void> {
    if (jobs.length === 0) return;
    this.write((machine) => {
      const steps = new Set<string>();
      for (const job of jobs) {
        const released = this.q.releaseJob.run({ id: Number(job.id), token: job.token });
        if (released.changes > 0 && !steps.has(job.stepId)) {
          steps.add(job.stepId);
          machine.events.push({ type: 'work', workflowId: job.workflowId, stepId: job.stepId });
        }
      }
    });
    return Promise.resolve();
  }

  // --- nodes and leases -----------------------------------------------------------------------

  async registerNode(node: NewNode): Promise<void> {
    const { value } = this.write((_machine, now) => {
      const row = this.q.registerNode.get({
        id: node.id,
        host: node.host || hostname(),
        pid: node.pid,
        handlers: JSON.stringify(node.handlers),
        now,
        expiresAt: now + node.leaseMs,
      }) as { pk: number };
      return row.pk;
    });
    this.nodePks.set(node.id, value);
    return Promise.resolve();
  }

  async heartbeat(nodeId: string, leaseMs: number, held?: readonly string[]): Promise<{ alive: boolean }> {
    const { value } = this.write((machine, now) => {
      const alive = this.q.heartbeat.run({ id: nodeId, now, expiresAt: now + leaseMs }).changes > 0;
      const pk = this.nodePks.get(nodeId);
      if (alive && held !== undefined && pk !== undefined) this.reconcile(pk, new Set(held.map(Number)), machine);
      return alive;
    });
    return Promise.resolve({ alive: value });
  }

  async unregisterNode(nodeId: string): Promise<void> {
    this.write(() => {
      const row = this.q.deleteNode.get(nodeId) as { pk: number } | undefined;
      if (row === undefined) return;
      this.q.releaseLeasedAloneBy.run(row.pk);
      for (const lease of this.q.rangesOf.all(row.pk) as RangeLease[]) {
        this.q.releaseFreshRange.run(lease.lo, lease.hi);
        this.q.deleteLease.run(lease.id);
      }
    });
    this.nodePks.delete(nodeId);
    return Promise.resolve();
  }

  async recoverExpired(limit: number): Promise<RecoverResult> {
    const { value, events } = this.write((machine, now) => {
      const dead = this.q.deleteExpiredNodes.all(now) as { pk: number; id: string }[];
      let recovered = 0;
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
      recovered += outcomes.length;
      // Range leases: the fresh tasks left in them fail this attempt together.
      for (const lease of this.q.orphanedRanges.all(limit) as RangeLease[]) {
        recovered += this.recoverRange(lease, machine, now);
      }
      return { recovered, nodesRemoved: dead.length };
    });
    return Promise.resolve({ ...value, events });
  }

  async listNodes(): Promise<NodeRecord[]> {
    return Promise.resolve((this.q.listNodes.all() as NodeRow[]).map(toNodeRecord));
  }

  // --- events ---------------------------------------------------------------------------------

  async publish(events: BackendEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.write((machine) => {
      machine.events.push(...events);
    });
    return Promise.resolve();
  }

  subscribe(listener: EventListener): () => void {
    this.database();
    return this.log.subscribe(listener);
  }

  // --- reads ----------------------------------------------------------------------------------

  async getWorkflow(workflowId: string): Promise<WorkflowRecord | null> {
    const row = this.guard(() => this.q.getWorkflow.get(workflowId) as WorkflowRow | undefined);
    return Promise.resolve(row === undefined ? null : toWorkflowRecord(row));
  }

  async listWorkflows(query: WorkflowQuery): Promise<WorkflowRecord[]> {
    const rows = this.guard(
      () =>
        this.q.listWorkflows.all({
          name: query.name ?? null,
          status: query.status ?? null,
          beforeCreated: query.before?.createdAt ?? null,
          beforeId: query.before?.id ?? null,
          limit: query.limit,
        }) as WorkflowRow[],
    );
    return Promise.resolve(rows.map(toWorkflowRecord));
  }

  async getSteps(workflowId: string): Promise<StepRecord[]> {
    const rows = this.guard(() => this.q.stepsOfWorkflow.all(workflowId) as StepRow[]);
    const idOfPk = new Map(rows.map((row) => [row.pk, row.id]));
    return Promise.resolve(rows.map((row) => toStepRecord(row, row.anchor_pk === null ? null : (idOfPk.get(row.anchor_pk) ?? null))));
  }

  async getStep(workflowId: string, stepId: string): Promise<StepRecord | null> {
    const row = this.guard(() => this.q.stepById.get(workflowId, stepId) as StepRow | undefined);
    if (row === undefined) return Promise.resolve(null);
    const anchor = row.anchor_pk === null ? undefined : (this.q.stepByPk.get(row.anchor_pk) as StepRow | undefined);
    return Promise.resolve(toStepRecord(row, anchor?.id ?? null));
  }

  async getTasks(workflowId: string, stepId: string, page: TaskPage): Promise<TaskRecord[]> {
    const rows = this.guard(() => {
      const step = this.q.stepById.get(workflowId, stepId) as StepRow | undefined;
      if (step === undefined) return [];
      return this.q.tasksPage.all({
        lo: jobId(step.pk, page.afterSeq),
        hi: jobId(step.pk, AFTER_SLOT),
        limit: page.limit,
      }) as TaskRow[];
    });
    return Promise.resolve(rows.map((row) => toTaskRecord(row, workflowId, stepId)));
  }

  // --- retention ------------------------------------------------------------------------------

  async removeWorkflow(workflowId: string): Promise<boolean> {
    const { value } = this.write(() => this.deleteWorkflowRows(workflowId));
    return Promise.resolve(value);
  }

  async sweep(limit: number): Promise<number> {
    const { value } = this.write((_machine, now) => {
      const ids = this.q.expiredWorkflows.all(now, limit) as { id: string }[];
      for (const { id } of ids) this.deleteWorkflowRows(id);
      this.log.prune(now);
      return ids.length;
    });
    return Promise.resolve(value);
  }

  // --- internals ------------------------------------------------------------------------------

  private database(): SqliteDatabase {
    if (this.db === null) throw new BackendError('the SQLite backend is not open (was DeFlow unregistered?)');
    return this.db;
  }

  /** Runs `fn` in an immediate transaction, then hands the events it fired to subscribers. */
  private write<T>(fn: (machine: StepMachine, now: number) => T): { value: T; events: BackendEvent[] } {
    const db = this.database();
    const events: BackendEvent[] = [];
    const now = this.clock.now();
    const value = this.guard(() =>
      db
        .transaction(() => {
          const machine = new StepMachine(this.q, now, events);
          const result = fn(machine, now);
          machine.settleWorkflows();
          this.log.persist(events, now);
          return result;
        })
        .immediate(),
    );
    this.log.deliver(events);
    return { value, events };
  }

  /** Maps SQLite failures to BackendError; deflow's own errors pass through. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (error instanceof DeflowError) throw error;
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('SQLITE_')) {
        throw new BackendError(`SQLite error ${code} on ${this.location}: ${(error as Error).message}`, { cause: error });
      }
      throw error;
    }
  }

  private claimInTransaction(request: ClaimRequest, now: number): ClaimResult {
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
    return { jobs, watchNextTask: workflow.watch_next_task === 1, taskCount: step.total };
  }

  /** Claims the first jobs of steps this transaction made runnable, for handlers the node has. */
  private adoptInTransaction(adopt: AdoptRequest, events: readonly BackendEvent[], next: ClaimRequest | undefined, now: number): AdoptedStep[] {
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
      const claim = this.claimInTransaction({ nodeId: adopt.nodeId, workflowId: event.workflowId, stepId: event.stepId, limit }, now);
      if (claim.jobs.length > 0) adopted.push({ step, claim });
    }
    return adopted;
  }

  /** Applies fenced outcomes, aggregates counts per step, then advances the touched steps. */
  private applyOutcomes(outcomes: readonly JobOutcome[], machine: StepMachine, now: number): string[] {
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
  private reconcile(owner: number, keep: ReadonlySet<number>, machine: StepMachine): void {
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

  private requireStep(workflowId: string, stepId: string): StepRow {
    const step = this.q.stepById.get(workflowId, stepId) as StepRow | undefined;
    if (step === undefined) throw new NotFoundError(`step "${stepId}" of workflow ${workflowId} does not exist (was the workflow removed?)`);
    return step;
  }

  /** Inserts a step with its hook jobs and tasks; null when a step with that id exists. */
  private insertStep(workflowId: string, step: NewStep, placement: StepPlacement): number | null {
    const row = this.q.insertStep.get({
      workflowId,
      id: step.id,
      name: step.name,
      handler: JSON.stringify(step.handler),
      data: step.dataJson,
      options: JSON.stringify(step.options),
      maxAttempts: step.options.taskMaxFailCount,
      retryDelay: step.options.taskFailRetryDelay,
      deps: JSON.stringify(step.deps),
      anchorPk: placement.anchorPk,
      anchorPhase: placement.anchorPhase,
      anchorSeq: placement.anchorSeq,
      parentId: placement.parentId,
      declIndex: placement.declIndex,
      hasBefore: step.handler.hasBeforeAll ? 1 : 0,
      hasAfter: step.handler.hasAfterAll ? 1 : 0,
    }) as { pk: number } | undefined;
    if (row === undefined) return null;
    if (row.pk > MAX_STEP_PK) {
      throw new BackendError(`this SQLite database holds the most steps it can number (${MAX_STEP_PK}); start a new database file`);
    }
    if (step.handler.hasBeforeAll) this.q.insertJob.run(jobId(row.pk, BEFORE_SLOT), 'null');
    if (step.handler.hasAfterAll) this.q.insertJob.run(jobId(row.pk, AFTER_SLOT), 'null');
    this.insertTasks(row.pk, step.tasksJson);
    return row.pk;
  }

  private insertTasks(stepPk: number, tasksJson: readonly string[]): void {
    if (tasksJson.length === 0) return;
    const { next_seq } = this.q.reserveTaskSeq.get({ pk: stepPk, n: tasksJson.length }) as { next_seq: number };
    if (next_seq > MAX_TASKS_PER_STEP) {
      throw new ValidationError(`a step of the embedded backend holds at most ${MAX_TASKS_PER_STEP} tasks; split the work over several steps`);
    }
    const first = jobId(stepPk, next_seq - tasksJson.length + 1);
    const count = tasksJson.length;
    let i = 0;
    if (count >= 64) {
      const params: (number | string)[] = new Array<number | string>(128);
      for (; i + 64 <= count; i += 64) {
        for (let k = 0; k < 64; k++) {
          params[2 * k] = first + i + k;
          params[2 * k + 1] = tasksJson[i + k] as string;
        }
        this.q.insertJobs64.run(params);
      }
    }
    for (; i < count; i++) this.q.insertJob.run(first + i, tasksJson[i]);
  }

  private deleteWorkflowRows(workflowId: string): boolean {
    for (const { pk } of this.q.stepPksOfWorkflow.all(workflowId) as { pk: number }[]) {
      this.q.deleteJobsOfStep.run(jobId(pk, 0), jobId(pk, SLOTS_PER_STEP - 1));
    }
    this.q.deleteLeasesOfWorkflow.run(workflowId);
    this.q.deleteBatchesOfWorkflow.run(workflowId);
    this.q.deleteEdgesOfWorkflow.run(workflowId);
    this.q.deleteStepsOfWorkflow.run(workflowId);
    return this.q.deleteWorkflow.run(workflowId).changes > 0;
  }
}

function runnableStep(row: StepRow, workflowName: string): RunnableStep {
  const record = toStepRecord(row, null);
  return {
    workflowId: row.workflow_id,
    workflowName,
    stepId: row.id,
    name: row.name,
    handler: record.handler,
    dataJson: row.data,
    options: record.options,
    runIndex: row.run_index ?? 0,
    parentId: row.parent_id,
  };
}
