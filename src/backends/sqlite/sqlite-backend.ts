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
import { BackendError, DeflowError } from '../../errors.js';
import { faultPoint } from '../../fault-points.js';
import type {
  Backend,
  BackendEvent,
  BroadcastTarget,
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  CompleteResult,
  EventListener,
  JobLease,
  NewAnchoredSteps,
  NewEvent,
  NewNode,
  NewSchedule,
  NewTasks,
  NewWorkflow,
  RateLimit,
  RecoverResult,
  RetryRequest,
  RetryResult,
  RunControlRequest,
  RunControlResult,
  QueueCount,
  RunnableSteps,
  ScheduleRecord,
  TaskPage,
  WorkflowCountQuery,
  WorkflowCounts,
  WorkflowQuery,
} from '../backend.js';
import type { EventRecord, NodeRecord, StepRecord, TaskRecord, WorkflowRecord, WorkflowStatus } from '../records.js';
import { DEFAULT_QUEUES } from '../policy.js';
import { ProblemLog } from '../problem-log.js';
import { openDatabase, openDatabaseToRead } from './connection.js';
import type { SqliteDatabase } from './connection.js';
import { Definitions } from './definitions.js';
import { EventLog } from './event-log.js';
import { JobLedger } from './job-ledger.js';
import { listSchedules, saveSchedule } from './schedules.js';
import { AFTER_SLOT, jobId, overlayRangeResults, runnableStep, toNodeRecord, toStepRecord, toTaskRecord, toWorkflowRecord } from './rows.js';
import type { NodeRow, StepRow, TaskRow, WorkflowRow } from './rows.js';
import { retryWorkflow } from './retry.js';
import { prepareStatements } from './statements.js';
import type { Statements } from './statements.js';
import { controlWorkflow } from './run-control.js';
import { StepMachine } from './step-machine.js';

/** Most timers one runnableSteps call starts (the rest start at the next call, which comes at once). */
const DUE_STEPS_PER_ROUND = 100;

export interface SqliteBackendOptions {
  /** Database file, or `:memory:` (one process only). */
  path: string;
  /** How often idle processes check whether another process changed the file. Default 50 ms. */
  pollIntervalMs?: number;
  /** How long a write waits for another process's transaction. Default 10 s. */
  busyTimeoutMs?: number;
  clock?: Clock;
  /** Only look (deflow ls / show): open the existing file read-only, never create or migrate it. */
  readOnly?: boolean;
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
  /** Problems got past on the way (malformed event rows, corrupt records), each kind once. */
  private readonly problems = new ProblemLog();
  private ledger!: JobLedger;
  private definitions!: Definitions;

  constructor(private readonly options: SqliteBackendOptions) {
    this.location = options.path;
    this.clock = options.clock ?? systemClock;
  }

  async open(): Promise<void> {
    if (this.db !== null) return;
    const busyTimeoutMs = this.options.busyTimeoutMs ?? 10_000;
    const readOnly = this.options.readOnly === true && this.options.path !== ':memory:';
    const db = readOnly ? openDatabaseToRead(this.options.path, busyTimeoutMs) : openDatabase(this.options.path, busyTimeoutMs);
    this.q = prepareStatements(db);
    this.log = new EventLog(db, this.q, this.origin, this.options.pollIntervalMs ?? 50, this.problems);
    this.ledger = new JobLedger(this.q, this.nodePks);
    this.definitions = new Definitions(this.q);
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
    const { value, events } = this.write((machine, now) => this.definitions.createWorkflow(workflow, machine, now));
    return Promise.resolve({ created: value, events });
  }

  async addAnchoredSteps(input: NewAnchoredSteps): Promise<{ added: number }> {
    const { value } = this.write((machine) => this.definitions.addAnchoredSteps(input, machine));
    return Promise.resolve({ added: value });
  }

  async addTasks(input: NewTasks): Promise<{ added: number; total: number }> {
    const { value } = this.write((machine) => this.definitions.addTasks(input, machine, this.clock.now()));
    return Promise.resolve(value);
  }

  async retryWorkflow(request: RetryRequest): Promise<RetryResult> {
    const { value, events } = this.write((machine) => retryWorkflow(this.q, machine, request));
    return Promise.resolve({ retries: value, events });
  }

  async watchNextTask(workflowId: string): Promise<void> {
    this.write((machine) => {
      this.q.watchNextTask.run(workflowId);
      machine.events.push({ type: 'watch', workflowId });
    });
    return Promise.resolve();
  }

  // --- work -----------------------------------------------------------------------------------

  async runnableSteps(limit: number, queues?: readonly string[]): Promise<RunnableSteps> {
    this.startDueSteps();
    const now = this.clock.now();
    // Held-back steps whose waitTimeout ran out fail first (a write only when one is due).
    if (this.nextWaitDue() <= now) this.write((machine) => this.expireWaits(machine, limit));
    const rows = this.database().transaction(() => ({
      steps: (queues === undefined ? this.q.runnableStepsAnyQueue.all({ now, limit }) : this.q.runnableSteps.all({ now, limit, queues: JSON.stringify(queues) })) as (StepRow & { workflow_name: string })[],
      nextJob: (this.q.nextRunAt.get(now) as { next: number | null }).next,
      nextTimer: (this.q.nextTimerAt.get() as { next: number | null }).next,
      waitDue: this.nextWaitDue(),
      nextRate: (this.q.nextRateStart.get({ now }) as { next: number | null }).next,
    }))();
    const nextRunAt = Math.min(rows.nextJob ?? Infinity, rows.nextTimer ?? Infinity, rows.waitDue, rows.nextRate ?? Infinity);
    return Promise.resolve({
      steps: rows.steps.map((row) => runnableStep(row, row.workflow_name)),
      nextRunAt: Number.isFinite(nextRunAt) ? nextRunAt : null,
      now,
    });
  }

  /** Steps whose timer came due start here (a write only when there are some): nodes look when one is due. */
  private startDueSteps(): void {
    const due = () => this.q.dueTimers.all({ now: this.clock.now(), limit: DUE_STEPS_PER_ROUND }) as { pk: number }[];
    if (due().length === 0) return;
    this.write((machine) => {
      for (const { pk } of due()) machine.start(pk);
    });
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    const { value } = this.write((_machine, now) => this.ledger.claim(request, now));
    return Promise.resolve(value);
  }

  async complete(request: CompleteRequest): Promise<CompleteResult> {
    const { value, events } = this.write((machine, now) => {
      if (request.events !== undefined) machine.events.push(...request.events);
      const stale = this.ledger.applyOutcomes(request.outcomes, machine, now);
      const claimed = request.next === undefined ? undefined : this.ledger.claim(request.next, now);
      const adopted = request.adopt === undefined ? undefined : this.ledger.adopt(request.adopt, machine.events, request.next, now);
      faultPoint('complete:in-transition'); // inside the write transaction, before its commit
      return { stale, claimed, adopted };
    });
    const result: CompleteResult = { stale: value.stale, events };
    if (value.claimed !== undefined) result.claimed = value.claimed;
    if (value.adopted !== undefined && value.adopted.length > 0) result.adopted = value.adopted;
    return Promise.resolve(result);
  }

  async release(jobs: JobLease[]): Promise<void> {
    if (jobs.length === 0) return;
    this.write((machine) => this.ledger.release(jobs, machine));
    return Promise.resolve();
  }

  async controlWorkflow(request: RunControlRequest): Promise<RunControlResult | null> {
    const { value, events } = this.write((machine, now) => controlWorkflow(this.q, request, machine, now));
    return Promise.resolve(value === null ? null : { ...value, events });
  }

  // --- events between workflows ----------------------------------------------------------------

  async deliverEvent(workflowId: string, event: NewEvent): Promise<{ delivered: boolean; events: BackendEvent[] }> {
    const { value, events } = this.write((machine) => machine.receive(workflowId, event));
    return Promise.resolve({ delivered: value, events });
  }

  async broadcastEvent(event: NewEvent, target: BroadcastTarget = {}): Promise<{ delivered: number }> {
    const { value } = this.write((machine) => {
      let delivered = 0;
      const targets = target.key === undefined ? this.q.openWorkflowIds.all() : this.q.openWorkflowIdsByKey.all(target.key);
      for (const { id } of targets as { id: string }[]) {
        if (machine.receive(id, event)) delivered++;
      }
      return delivered;
    });
    return Promise.resolve({ delivered: value });
  }

  async getEvents(workflowId: string): Promise<EventRecord[]> {
    const rows = this.guard(() => this.q.eventsOfWorkflow.all(workflowId) as { id: string; name: string; data: string; at: number }[]);
    return Promise.resolve(rows.map((row) => ({ id: row.id, name: row.name, dataJson: row.data, at: row.at })));
  }

  // --- rate limits ----------------------------------------------------------------------------

  async setRateLimit(limit: RateLimit): Promise<void> {
    this.write((_machine, now) => this.q.setRateLimit.run({ name: limit.name, max: limit.max, perMs: limit.perMs, now }));
    return Promise.resolve();
  }

  async rateLimits(): Promise<RateLimit[]> {
    const rows = this.q.listRateLimits.all() as { name: string; max: number; per_ms: number }[];
    return Promise.resolve(rows.map((row) => ({ name: row.name, max: row.max, perMs: row.per_ms })));
  }

  async removeRateLimit(name: string): Promise<boolean> {
    const { value } = this.write(() => {
      this.q.deleteRateStarts.run(name);
      this.q.deleteRateBucketStarts.run(name);
      return this.q.deleteRateLimit.get(name) !== undefined;
    });
    return Promise.resolve(value);
  }

  // --- schedules ------------------------------------------------------------------------------

  async saveSchedule(schedule: NewSchedule): Promise<{ created: boolean }> {
    const { value } = this.write((_machine, now) => saveSchedule(this.q, schedule, now));
    return Promise.resolve({ created: value });
  }

  async removeSchedule(name: string): Promise<boolean> {
    const { value } = this.write(() => this.q.deleteSchedule.get(name) !== undefined);
    return Promise.resolve(value);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return Promise.resolve(this.guard(() => listSchedules(this.q)));
  }

  async claimScheduleTick(name: string, tick: number, workflowId: string | null): Promise<boolean> {
    const { value } = this.write(() => this.q.claimScheduleTick.get({ name, tick, workflowId }) !== undefined);
    return Promise.resolve(value);
  }

  // --- nodes and leases -----------------------------------------------------------------------

  async registerNode(node: NewNode): Promise<void> {
    const { value } = this.write((_machine, now) => {
      const row = this.q.registerNode.get({
        id: node.id,
        host: node.host || hostname(),
        pid: node.pid,
        handlers: JSON.stringify(node.handlers),
        queues: JSON.stringify(node.queues ?? DEFAULT_QUEUES),
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
      if (alive && held !== undefined && pk !== undefined) this.ledger.reconcile(pk, new Set(held.map(Number)), machine);
      return alive;
    });
    return Promise.resolve({ alive: value });
  }

  async unregisterNode(nodeId: string): Promise<void> {
    this.write(() => {
      const row = this.q.deleteNode.get(nodeId) as { pk: number } | undefined;
      if (row === undefined) return;
      this.ledger.releaseAllOf(row.pk);
    });
    this.nodePks.delete(nodeId);
    return Promise.resolve();
  }

  async recoverExpired(limit: number): Promise<RecoverResult> {
    const { value, events } = this.write((machine, now) => {
      const dead = this.q.deleteExpiredNodes.all(now) as { pk: number; id: string }[];
      return { recovered: this.ledger.recoverOrphans(machine, now, limit), nodesRemoved: dead.length };
    });
    return Promise.resolve({ ...value, events });
  }

  async queueCounts(): Promise<QueueCount[]> {
    const rows = this.q.queueCounts.all({ now: this.clock.now() }) as QueueCount[];
    return Promise.resolve(rows.filter((row) => row.ready > 0 || row.leased > 0));
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
  onProblem(listener: (error: Error, during: string) => void): () => void {
    return this.problems.listen(listener);
  }


  // --- reads ----------------------------------------------------------------------------------

  async getWorkflow(workflowId: string): Promise<WorkflowRecord | null> {
    const row = this.guard(() => this.q.getWorkflow.get(workflowId) as WorkflowRow | undefined);
    return Promise.resolve(row === undefined ? null : toWorkflowRecord(row));
  }

  async listWorkflows(query: WorkflowQuery): Promise<WorkflowRecord[]> {
    const rows = this.guard(
      () =>
        (query.key === undefined ? this.q.listWorkflows : this.q.listWorkflowsByKey).all({
          ...(query.key === undefined ? {} : { key: query.key }),
          name: query.name ?? null,
          status: query.status ?? null,
          beforeCreated: query.before?.createdAt ?? null,
          beforeId: query.before?.id ?? null,
          limit: query.limit,
        }) as WorkflowRow[],
    );
    return Promise.resolve(rows.map(toWorkflowRecord));
  }

  async countWorkflows(query: WorkflowCountQuery): Promise<WorkflowCounts> {
    const rows = this.guard(
      () =>
        (query.key === undefined ? this.q.countWorkflows : this.q.countWorkflowsByKey).all({
          ...(query.key === undefined ? {} : { key: query.key }),
          name: query.name ?? null,
        }) as { status: WorkflowStatus; n: number }[],
    );
    return Promise.resolve(Object.fromEntries(rows.map((row) => [row.status, row.n])));
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
      const page_ = this.q.tasksPage.all({
        lo: jobId(step.pk, page.afterSeq),
        hi: jobId(step.pk, AFTER_SLOT),
        limit: page.limit,
      }) as TaskRow[];
      overlayRangeResults(this.q, step.pk, page_);
      return page_;
    });
    return Promise.resolve(rows.map((row) => toTaskRecord(row, workflowId, stepId)));
  }

  // --- retention ------------------------------------------------------------------------------

  async removeWorkflow(workflowId: string): Promise<boolean> {
    const { value } = this.write(() => this.definitions.deleteWorkflow(workflowId));
    return Promise.resolve(value);
  }

  async sweep(limit: number): Promise<number> {
    const { value } = this.write((_machine, now) => {
      const ids = this.q.expiredWorkflows.all(now, limit) as { id: string }[];
      for (const { id } of ids) this.definitions.deleteWorkflow(id);
      this.log.prune(now);
      return ids.length;
    });
    return Promise.resolve(value);
  }

  // --- internals ------------------------------------------------------------------------------

  /** When the first held-back step's waitTimeout runs out (Infinity: none). */
  private nextWaitDue(): number {
    return (this.guard(() => this.q.nextWaitDue.get()) as { next: number | null }).next ?? Infinity;
  }

  private expireWaits(machine: StepMachine, limit: number): void {
    for (const { pk } of this.q.dueWaits.all(machine.now, limit) as { pk: number }[]) machine.expireWait(pk);
  }

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
}

/** The earlier of two optional times. */