/**
 * The PostgreSQL backend: all state in one schema, shared by any number of node processes.
 * Every write operation is one call of a plpgsql entry function (functions/*.sql): one
 * round trip, one transaction, transitions decided inside it. Wake-ups travel by
 * LISTEN/NOTIFY on a dedicated connection (EventChannel), which also carries heartbeats.
 *
 * Lifecycle:  created -> open -> closed. A lost connection is not a state: pool connections
 * are replaced on demand, failed calls reject with a BackendError (the engine retries them;
 * fencing makes a replayed completion harmless), and the event channel reconnects by itself.
 */
import { hostname } from 'node:os';
import createDebug from 'debug';
import pg from 'pg';
import type { Pool, QueryResultRow } from 'pg';
import { BackendError, BackendUnavailableError } from '../../errors.js';
import { faultPoint } from '../../fault-points.js';
import type {
  AdoptRequest,
  Backend,
  BackendEvent,
  BroadcastTarget,
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  CompleteResult,
  DeliverResult,
  EventListener,
  JobLease,
  NewAnchoredSteps,
  NewEvent,
  NewNode,
  NewTasks,
  NewWorkflow,
  NewSchedule,
  RateLimit,
  ScheduleRecord,
  RecoverResult,
  RetryRequest,
  RetryResult,
  RunControlRequest,
  RunControlResult,
  QueueCount,
  RunnableSteps,
  TaskPage,
  WorkflowCountQuery,
  WorkflowCounts,
  WorkflowQuery,
} from '../backend.js';
import type { CreateOptions } from '../descriptor.js';
import { NODE_LOST } from '../failures.js';
import { DEFAULT_MAX_NODE_LOSSES, DEFAULT_QUEUES, RETRYABLE_STATUSES } from '../policy.js';
import { ProblemLog } from '../problem-log.js';
import type { EventRecord, NodeRecord, StepRecord, TaskRecord, WorkflowRecord, WorkflowStatus } from '../records.js';
import { clientConfig, redactUrl } from './config.js';
import type { PostgresClientOptions, PostgresConfig } from './config.js';
import { isUnavailable, toDeflowError } from './errors.js';
import { EventChannel } from './event-channel.js';
import { splitJobIds } from './job-ids.js';
import { migrate } from './migrator.js';
import { checkReadableSchema } from './read-only.js';
import { packLeases, packOutcomes, packSteps } from './packing.js';
import { queries } from './queries.js';
import type { Queries, QueryName } from './queries.js';
import { toAdoptedStep, toClaimResult, toNodeRecord, toRunnableStep, toStepRecord, toTaskRecord, toWorkflowRecord } from './rows.js';
import type { ClaimRow, CompleteRow, NodeRow, RunnableRow, StepRow, TaskRow, WorkflowRow } from './rows.js';
import { toScheduleRecords } from './schedule-rows.js';
import type { ScheduleRow } from './schedule-rows.js';

const debug = createDebug('deflow:postgres');

/** Jobs of removed workflows a sweep deletes per workflow it may remove. */
const JOBS_PER_SWEPT_WORKFLOW = 250;

/** Most timers one runnableSteps call starts (any left over are due: the node looks again at once). */
const DUE_STEPS_PER_ROUND = 100;

export class PostgresBackend implements Backend {
  readonly kind = 'postgres';
  readonly location: string;
  private readonly q: Queries = queries();
  private readonly connection: PostgresClientOptions;
  private pool: Pool | null = null;
  private channel: EventChannel | null = null;
  /** Number of the last call sent that may claim (see nextClaimCall). */
  private lastClaimCall = 0;
  /** When (performance.now()) a call last failed, and when the last heartbeat that went through was sent. */
  private lostContactAt = -Infinity;
  private heardBackAt = -Infinity;
  /** Problems got past on the way (malformed event messages, corrupt records), each kind once. */
  private readonly problems = new ProblemLog();

  constructor(
    private readonly config: PostgresConfig,
    private readonly options: CreateOptions = {},
  ) {
    this.location = `${redactUrl(config.url)} (schema ${config.schema})`;
    this.connection = clientConfig(config); // a URL it cannot use is a ValidationError now, not at open()
  }

  async open(): Promise<void> {
    if (this.pool !== null) return;
    // A look at the store (deflow ls / show) neither migrates nor listens, and its connections refuse any write.
    const readOnly = this.options.readOnly === true;
    const connection = readOnly ? { ...this.connection, options: `${this.connection.options} -c default_transaction_read_only=on` } : this.connection;
    const pool = new pg.Pool({ ...connection, max: this.config.poolSize, idleTimeoutMillis: 30_000 });
    // An idle connection the server dropped (restart, pg_terminate_backend): the pool replaces it.
    pool.on('error', (error) => debug('idle connection lost: %s', error.message));
    const channel = readOnly ? null : new EventChannel(connection, this.q, (ids) => this.eventsByIds(ids), this.problems, `deflow.${this.config.schema}`);
    try {
      if (readOnly) await checkReadableSchema(pool, this.config);
      else await migrate(pool, this.config.schema);
      await channel?.start();
    } catch (error) {
      await channel?.close();
      await pool.end().catch(() => undefined);
      if (error instanceof BackendError) throw error; // already says what to do
      const reason = error instanceof Error ? error.message : String(error);
      if (!isUnavailable(error)) throw new BackendError(`cannot open the PostgreSQL backend at ${this.location}: ${reason}`, { cause: error });
      throw new BackendUnavailableError(
        `cannot open the PostgreSQL backend at ${this.location}: ${reason}. Check that the server runs and that the URL's host and port are right.`,
        { cause: error },
      );
    }
    this.pool = pool;
    this.channel = channel;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    const channel = this.channel;
    this.pool = null;
    this.channel = null;
    await channel?.close();
    await pool?.end();
  }

  async now(): Promise<number> {
    const [row] = await this.run<{ now: number }>('now', []);
    return row?.now ?? Date.now();
  }

  // --- definition -----------------------------------------------------------------------------

  async createWorkflow(workflow: NewWorkflow): Promise<{ created: boolean; events: BackendEvent[] }> {
    const [row] = await this.run<{ created: boolean; events: BackendEvent[]; pid: number }>('createWorkflow', [
      workflow.id,
      workflow.name,
      workflow.key ?? null,
      JSON.stringify(workflow.options),
      workflow.watchNextTask,
      workflow.replaceByName,
      ...packSteps(workflow.steps),
    ]);
    return { created: row?.created ?? false, events: this.deliverOwn(row?.pid, row?.events) };
  }

  async addAnchoredSteps(input: NewAnchoredSteps): Promise<{ added: number }> {
    const [row] = await this.run<{ added: number }>('addAnchoredSteps', [
      input.workflowId,
      input.anchorStepId,
      input.phase,
      ...packSteps(input.steps),
    ]);
    return { added: row?.added ?? 0 };
  }

  async addTasks(input: NewTasks): Promise<{ added: number; total: number }> {
    const [row] = await this.run<{ added: number; total: number }>('addTasks', [
      input.workflowId,
      input.stepId,
      input.tasksJson,
      input.batchKey ?? null,
      input.taskBuckets ?? [],
      input.taskRateBuckets ?? [],
      input.delayMs ?? 0,
    ]);
    return { added: row?.added ?? 0, total: row?.total ?? 0 };
  }

  async retryWorkflow(request: RetryRequest): Promise<RetryResult> {
    const [row] = await this.run<{ retries: number; events: BackendEvent[]; pid: number }>('retryWorkflow', [
      request.workflowId,
      request.fromStepIds ?? [],
      request.onlyStepId ?? null,
      [...RETRYABLE_STATUSES],
    ]);
    return { retries: row?.retries ?? 0, events: this.deliverOwn(row?.pid, row?.events) };
  }

  async controlWorkflow(request: RunControlRequest): Promise<RunControlResult | null> {
    const [row] = await this.run<{ known: boolean; changed: boolean; status: WorkflowStatus; events: BackendEvent[]; pid: number }>(
      'controlWorkflow',
      [request.workflowId, request.action, request.errorJson ?? null],
    );
    if (row === undefined || !row.known) return null;
    return { changed: row.changed, status: row.status, events: this.deliverOwn(row.pid, row.events) };
  }

  async watchNextTask(workflowId: string): Promise<void> {
    await this.run('watchNextTask', [workflowId]);
  }

  // --- work -----------------------------------------------------------------------------------

  async runnableSteps(limit: number, queues?: readonly string[]): Promise<RunnableSteps> {
    const only = queues === undefined ? null : [...queues];
    let rows = await this.run<RunnableRow>('runnableSteps', [limit, only]);
    const due = rows[0];
    if (due !== undefined && due.next_timer_at !== null && due.next_timer_at <= due.now) {
      // A step's timer came due: start it (and its due neighbours), then look again.
      await this.run('startDueSteps', [DUE_STEPS_PER_ROUND]);
      rows = await this.run<RunnableRow>('runnableSteps', [limit, only]);
    }
    const waitDue = rows[0]?.next_wait_due;
    if (waitDue !== undefined && waitDue !== null && waitDue <= (rows[0]?.now ?? 0)) {
      // Held-back steps whose waitTimeout ran out fail first (an extra call only when one is due).
      const [expired] = await this.run<{ events: BackendEvent[]; pid: number }>('expireWaits', [limit]);
      this.deliverOwn(expired?.pid, expired?.events);
      rows = await this.run<RunnableRow>('runnableSteps', [limit, only]);
    }
    const first = rows[0];
    const nextRunAt = Math.min(first?.next_run_at ?? Infinity, first?.next_timer_at ?? Infinity, first?.next_wait_due ?? Infinity);
    return {
      steps: rows.flatMap((row) => (row.workflow_id === null ? [] : [toRunnableStep({ ...row, workflow_id: row.workflow_id })])),
      now: first?.now ?? Date.now(),
      nextRunAt: Number.isFinite(nextRunAt) ? nextRunAt : null,
    };
  }

  // --- events between workflows ----------------------------------------------------------------

  async deliverEvent(workflowId: string, event: NewEvent, adopt?: AdoptRequest): Promise<DeliverResult> {
    const [row] = await this.run<Pick<CompleteRow, 'adopted'> & { delivered: boolean; events: BackendEvent[]; pid: number }>('deliverEvent', [
      workflowId,
      event.id,
      event.name,
      event.dataJson,
      adopt?.nodeId ?? null,
      adopt === undefined ? null : [...adopt.handlers],
      adopt?.limit ?? null,
      this.nextClaimCall(),
      adopt === undefined ? null : [...(adopt.queues ?? DEFAULT_QUEUES)],
    ]);
    const result: DeliverResult = { delivered: row?.delivered ?? false, events: this.deliverOwn(row?.pid, row?.events) };
    const adopted = (row?.adopted ?? []).map(({ step, claim }) => ({ step: toAdoptedStep(step), claim: toClaimResult(claim, step.workflowId, step.stepId) }));
    if (adopted.length > 0) result.adopted = adopted;
    return result;
  }

  async broadcastEvent(event: NewEvent, target: BroadcastTarget = {}): Promise<{ delivered: number }> {
    const [row] = await this.run<{ delivered: number; events: BackendEvent[]; pid: number }>('broadcastEvent', [
      event.id,
      event.name,
      event.dataJson,
      target.key ?? null,
    ]);
    this.deliverOwn(row?.pid, row?.events);
    return { delivered: row?.delivered ?? 0 };
  }

  async getEvents(workflowId: string): Promise<EventRecord[]> {
    const rows = await this.run<{ id: string; name: string; data: string; at: number }>('getEvents', [workflowId]);
    return rows.map((row) => ({ id: row.id, name: row.name, dataJson: row.data, at: row.at }));
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    const [row] = await this.run<ClaimRow>('claim', [request.nodeId, request.workflowId, request.stepId, request.limit, this.nextClaimCall()]);
    return toClaimResult(row, request.workflowId, request.stepId);
  }

  async complete(request: CompleteRequest): Promise<CompleteResult> {
    const next = request.next;
    const adopt = request.adopt;
    const [row] = await this.run<CompleteRow>('complete', [
      ...packOutcomes(request.outcomes),
      (request.events ?? []).map((event) => JSON.stringify(event)),
      next?.nodeId ?? null,
      next?.workflowId ?? null,
      next?.stepId ?? null,
      next?.limit ?? null,
      adopt?.nodeId ?? null,
      adopt === undefined ? null : [...adopt.handlers],
      adopt?.limit ?? null,
      this.nextClaimCall(),
      adopt === undefined ? null : [...(adopt.queues ?? DEFAULT_QUEUES)],
    ]);
    faultPoint('complete:in-transition'); // committed; this node has not read the answer
    const result: CompleteResult = { stale: row?.stale ?? [], events: this.deliverOwn(row?.pid, row?.events) };
    if (next !== undefined) result.claimed = toClaimResult(row, next.workflowId, next.stepId);
    const adopted = (row?.adopted ?? []).map(({ step, claim }) => ({ step: toAdoptedStep(step), claim: toClaimResult(claim, step.workflowId, step.stepId) }));
    if (adopted.length > 0) result.adopted = adopted;
    return result;
  }

  async release(jobs: JobLease[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.run('release', packLeases(jobs));
  }

  // --- nodes and leases -----------------------------------------------------------------------

  async registerNode(node: NewNode): Promise<void> {
    const sentAt = performance.now();
    await this.run('registerNode', [node.id, node.host || hostname(), node.pid, JSON.stringify(node.handlers), node.leaseMs, JSON.stringify(node.queues ?? DEFAULT_QUEUES)]);
    this.heardBack(sentAt);
  }

  async heartbeat(nodeId: string, leaseMs: number, held?: readonly string[]): Promise<{ alive: boolean }> {
    const split = held === undefined ? null : splitJobIds(held);
    // `held` was taken just now: it accounts for the claims of every call sent so far, and for
    // none sent from now on (the fence: see functions/04_claims.sql).
    const values = [nodeId, leaseMs, split?.steps ?? null, split?.seqs ?? null, split === null ? null : this.lastClaimCall];
    // On the dedicated connection when it is up, so a heartbeat never queues behind the pool;
    // on the pool when it is down or has not answered within a third of the lease (the
    // connection is then dropped as half-open; a replayed reconciliation is harmless).
    const sentAt = performance.now();
    let rows: { alive: boolean }[] | null = null;
    try {
      const timeoutMs = Math.max(500, Math.floor(leaseMs / 3));
      rows = (await this.requireChannel().query<{ alive: boolean }>(this.q.heartbeat, values, timeoutMs))?.rows ?? null;
    } catch (error) {
      debug('heartbeat on the event connection failed, using the pool: %s', (error as Error).message);
    }
    rows ??= await this.run<{ alive: boolean }>('heartbeat', values);
    this.heardBack(sentAt);
    return { alive: rows[0]?.alive ?? false };
  }

  async unregisterNode(nodeId: string): Promise<void> {
    await this.run('unregisterNode', [nodeId]);
  }

  async recoverExpired(limit: number): Promise<RecoverResult> {
    // After losing the database, judge nobody until a heartbeat of ours went through again:
    // it notes the silence (the outage grace of functions/06_nodes.sql) before any node is judged.
    if (this.lostContactAt > this.heardBackAt) return { recovered: 0, nodesRemoved: 0, events: [] };
    const [row] = await this.run<{ recovered: number; nodes_removed: number; events: BackendEvent[]; pid: number }>('recoverExpired', [
      limit,
      this.config.recoverIntervalMs,
      JSON.stringify(NODE_LOST),
      DEFAULT_MAX_NODE_LOSSES,
    ]);
    return { recovered: row?.recovered ?? 0, nodesRemoved: row?.nodes_removed ?? 0, events: this.deliverOwn(row?.pid, row?.events) };
  }

  async queueCounts(): Promise<QueueCount[]> {
    const rows = await this.run<QueueCount>('queueCounts', []);
    return rows.filter((row) => row.ready > 0 || row.leased > 0);
  }

  async listNodes(): Promise<NodeRecord[]> {
    return (await this.run<NodeRow>('listNodes', [])).map(toNodeRecord);
  }

  // --- events ---------------------------------------------------------------------------------

  async publish(events: BackendEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.run('publishEvents', [events.map((event) => JSON.stringify(event))]);
  }

  subscribe(listener: EventListener): () => void {
    return this.requireChannel().subscribe(listener);
  }

  onProblem(listener: (error: Error, during: string) => void): () => void {
    return this.problems.listen(listener);
  }

  // --- reads ----------------------------------------------------------------------------------

  async getWorkflow(workflowId: string): Promise<WorkflowRecord | null> {
    const [row] = await this.run<WorkflowRow>('getWorkflow', [workflowId]);
    return row === undefined ? null : toWorkflowRecord(row);
  }

  async listWorkflows(query: WorkflowQuery): Promise<WorkflowRecord[]> {
    const byKey = query.key === undefined ? [] : [query.key];
    const rows = await this.run<WorkflowRow>(query.key === undefined ? 'listWorkflows' : 'listWorkflowsByKey', [
      ...byKey,
      query.name ?? null,
      query.status ?? null,
      query.before?.createdAt ?? null,
      query.before?.id ?? null,
      query.limit,
    ]);
    return rows.map(toWorkflowRecord);
  }

  async countWorkflows(query: WorkflowCountQuery): Promise<WorkflowCounts> {
    const rows =
      query.key === undefined
        ? await this.run<{ status: WorkflowStatus; n: number }>('countWorkflows', [query.name ?? null])
        : await this.run<{ status: WorkflowStatus; n: number }>('countWorkflowsByKey', [query.key, query.name ?? null]);
    return Object.fromEntries(rows.map((row) => [row.status, row.n]));
  }

  async getSteps(workflowId: string): Promise<StepRecord[]> {
    return (await this.run<StepRow>('getSteps', [workflowId])).map(toStepRecord);
  }

  async getStep(workflowId: string, stepId: string): Promise<StepRecord | null> {
    const [row] = await this.run<StepRow>('getStep', [workflowId, stepId]);
    return row === undefined ? null : toStepRecord(row);
  }

  async getTasks(workflowId: string, stepId: string, page: TaskPage): Promise<TaskRecord[]> {
    const rows = await this.run<TaskRow>('getTasks', [workflowId, stepId, page.afterSeq, page.limit]);
    return rows.map((row) => toTaskRecord(row, workflowId, stepId));
  }

  // --- retention ------------------------------------------------------------------------------

  // --- rate limits ----------------------------------------------------------------------------

  async setRateLimit(limit: RateLimit): Promise<void> {
    await this.run('setRateLimit', [limit.name, limit.max, limit.perMs]);
  }

  async rateLimits(): Promise<RateLimit[]> {
    const rows = await this.run<{ name: string; max: number; per_ms: number }>('rateLimits', []);
    return rows.map((row) => ({ name: row.name, max: row.max, perMs: row.per_ms }));
  }

  async removeRateLimit(name: string): Promise<boolean> {
    const [row] = await this.run<{ removed: boolean }>('removeRateLimit', [name]);
    return row?.removed ?? false;
  }

  // --- schedules ------------------------------------------------------------------------------

  async saveSchedule(schedule: NewSchedule): Promise<{ created: boolean }> {
    const { name, cron, timezone, workflow, inputJson, overlap, catchUp } = schedule;
    const [row] = await this.run<{ created: boolean }>('saveSchedule', [name, cron, timezone, workflow, inputJson, overlap, catchUp]);
    return { created: row?.created ?? false };
  }

  async removeSchedule(name: string): Promise<boolean> {
    const [row] = await this.run<{ removed: boolean }>('removeSchedule', [name]);
    return row?.removed ?? false;
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return toScheduleRecords(await this.run<ScheduleRow>('listSchedules', []));
  }

  async claimScheduleTick(name: string, tick: number, workflowId: string | null): Promise<boolean> {
    return (await this.run('claimScheduleTick', [name, tick, workflowId])).length > 0;
  }

  async removeWorkflow(workflowId: string): Promise<boolean> {
    const [row] = await this.run<{ removed: boolean }>('removeWorkflow', [workflowId]);
    return row?.removed ?? false;
  }

  async sweep(limit: number): Promise<number> {
    const [row] = await this.run<{ removed: number }>('sweep', [limit, limit * JOBS_PER_SWEPT_WORKFLOW]);
    return row?.removed ?? 0;
  }

  // --- internals ------------------------------------------------------------------------------

  /**
   * Numbers the calls that may claim, increasing: a reconciling heartbeat hands back only jobs
   * claimed by calls up to the last one sent before its held list was taken. A node's claims
   * and heartbeats go through its own process's backend; the numbers also follow the clock (µs)
   * so that two backends of one process number alike.
   */
  private nextClaimCall(): number {
    this.lastClaimCall = Math.max(this.lastClaimCall + 1, Date.now() * 1000);
    return this.lastClaimCall;
  }

  /** One named query on the pool, as a prepared statement; pg errors become deflow errors. */
  private async run<R extends QueryResultRow>(name: QueryName, values: unknown[]): Promise<R[]> {
    const pool = this.pool;
    if (pool === null) throw new BackendError('the PostgreSQL backend is not open (was DeFlow unregistered?)');
    try {
      const result = await pool.query<R>({ name: `deflow_${name}`, text: this.q[name], values });
      return result.rows;
    } catch (error) {
      const mapped = toDeflowError(error, this.location);
      if (mapped instanceof BackendError) this.lostContactAt = performance.now(); // not one of our own SQLSTATEs
      throw mapped;
    }
  }

  /** A heartbeat or registration sent at `sentAt` went through. */
  private heardBack(sentAt: number): void {
    this.heardBackAt = Math.max(this.heardBackAt, sentAt);
  }

  private requireChannel(): EventChannel {
    if (this.channel === null) throw new BackendError('the PostgreSQL backend is not open (was DeFlow unregistered?)');
    return this.channel;
  }

  /**
   * Events a call returned: to this process's subscribers now, like an in-process backend.
   * Returns them without the replay ids ("eid") the SQL adds to the ones it keeps.
   */
  private deliverOwn(pid: number | undefined, returned: readonly (BackendEvent & { eid?: string })[] | null | undefined): BackendEvent[] {
    const replayed: { id: string; event: BackendEvent }[] = [];
    const events = (returned ?? []).map(({ eid, ...event }) => {
      if (eid !== undefined) replayed.push({ id: eid, event });
      return event;
    });
    if (pid !== undefined && events.length > 0) this.channel?.deliverOwn(pid, events, replayed);
    return events;
  }

  private async eventsByIds(ids: readonly string[]): Promise<Map<string, unknown>> {
    const rows = await this.run<{ id: string; payload: unknown }>('eventsByIds', [ids]);
    return new Map(rows.map((row) => [row.id, row.payload]));
  }
}
