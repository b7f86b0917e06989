/**
 * The Redis backend: any number of node processes share workflows through one Redis.
 *
 * Every state change of a workflow is one Lua script on that workflow's keys (one hash tag,
 * so one cluster slot); per-prefix indexes (nodes, runnable hints, listings, retention) are
 * updated in separate, idempotent calls and repaired by reconciliation. Events travel over
 * pub/sub. See docs/backends/redis.md for the key layout and the guarantees.
 *
 * Lifecycle:  created -> open -> closed
 */
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
  NewTasks,
  NewWorkflow,
  NewSchedule,
  QueueCount,
  RateLimit,
  ScheduleRecord,
  RecoverResult,
  RetryRequest,
  RetryResult,
  RunControlRequest,
  RunControlResult,
  RunnableSteps,
  TaskPage,
  WorkflowCountQuery,
  WorkflowCounts,
  WorkflowQuery,
} from '../backend.js';
import createDebug from 'debug';
import { BackendError } from '../../errors.js';
import { ProblemLog } from '../problem-log.js';
import type { EventRecord, NodeRecord, StepRecord, TaskRecord, WorkflowRecord } from '../records.js';
import type { RedisConnectionOptions } from './config.js';
import { RedisLink, redisSettings } from './connection.js';
import type { RedisSettings } from './connection.js';
import { RedisCore } from './core.js';
import { Definitions } from './definitions.js';
import { KeySpace } from './keys.js';
import { Leases } from './leases.js';
import { RateLimits } from './rate-limits.js';
import { Schedules } from './schedules.js';
import { Reads } from './reads.js';
import { Retention } from './retention.js';
import { controlWorkflow } from './run-control.js';
import { Signals } from './signals.js';
import type { ScriptMode } from './scripts.js';
import { Work } from './work.js';

const debug = createDebug('deflow:redis');

export interface RedisBackendOptions {
  /** `redis:` (use `connection`), or a `redis://…` / `rediss://…` URL. */
  url: string;
  connection?: RedisConnectionOptions | undefined;
  /** Key namespace. Default `deflow`. */
  prefix?: string | undefined;
  /** Assert that every script's keys share one hash tag (tests). Default: $DEFLOW_REDIS_ASSERT_SLOTS === '1'. */
  assertOneSlot?: boolean;
  /** Run scripts as a Functions library (Redis >= 7, the default) or as EVAL scripts. Default: $DEFLOW_REDIS_SCRIPTS or 'functions'. */
  scriptMode?: ScriptMode;
  /**
   * Only look (deflow ls / show): scripts run as EVAL (no Functions library is loaded into the
   * server), and listings leave the index entries of vanished workflows for a node to drop.
   */
  readOnly?: boolean;
}

interface Parts {
  core: RedisCore;
  signals: Signals;
  work: Work;
  leases: Leases;
  reads: Reads;
  retention: Retention;
  definitions: Definitions;
  rateLimits: RateLimits;
  schedules: Schedules;
}

export class RedisBackend implements Backend {
  readonly kind = 'redis';
  readonly location: string;
  private readonly settings: RedisSettings;
  private readonly keys: KeySpace;
  private parts: Parts | null = null;
  private opening: Promise<void> | null = null;
  private closed = false;
  /** Problems got past on the way (malformed event messages, corrupt records), each kind once. */
  private readonly problems = new ProblemLog();

  constructor(private readonly options: RedisBackendOptions) {
    this.settings = redisSettings(options.url, options.connection);
    this.keys = new KeySpace(options.prefix ?? 'deflow');
    this.location = `${this.settings.location} (prefix ${this.keys.prefix})`;
  }

  open(): Promise<void> {
    this.opening ??= this.connect();
    return this.opening;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.opening?.catch(() => undefined);
    const parts = this.parts;
    this.parts = null;
    if (parts === null) return;
    await parts.core.close();
  }

  now(): Promise<number> {
    return this.use(async ({ core }) => {
      try {
        const [seconds, micros] = await core.client.time();
        return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      } catch (error) {
        throw core.link.wrap(error, 'reading the clock');
      }
    });
  }

  // --- definition -----------------------------------------------------------------------------

  createWorkflow(workflow: NewWorkflow): Promise<{ created: boolean; events: BackendEvent[] }> {
    return this.use((parts) => parts.definitions.createWorkflow(workflow));
  }

  addAnchoredSteps(input: NewAnchoredSteps): Promise<{ added: number }> {
    return this.use((parts) => parts.definitions.addAnchoredSteps(input));
  }

  addTasks(input: NewTasks): Promise<{ added: number; total: number }> {
    return this.use((parts) => parts.definitions.addTasks(input));
  }

  retryWorkflow(request: RetryRequest): Promise<RetryResult> {
    return this.use((parts) => parts.definitions.retryWorkflow(request));
  }

  watchNextTask(workflowId: string): Promise<void> {
    return this.use((parts) => parts.definitions.watchNextTask(workflowId));
  }

  // --- events between workflows ----------------------------------------------------------------

  deliverEvent(workflowId: string, event: NewEvent): Promise<{ delivered: boolean; events: BackendEvent[] }> {
    return this.use((parts) => parts.signals.deliverEvent(workflowId, event));
  }

  broadcastEvent(event: NewEvent, target?: BroadcastTarget): Promise<{ delivered: number }> {
    return this.use((parts) => parts.signals.broadcastEvent(event, target));
  }

  getEvents(workflowId: string): Promise<EventRecord[]> {
    return this.use((parts) => parts.signals.getEvents(workflowId));
  }

  // --- work -----------------------------------------------------------------------------------

  runnableSteps(limit: number, queues?: readonly string[]): Promise<RunnableSteps> {
    return this.use(async ({ core }) => {
      try {
        return await core.discovery.runnableSteps(limit, queues);
      } catch (error) {
        throw core.link.wrap(error, 'looking for work');
      }
    });
  }

  claim(request: ClaimRequest): Promise<ClaimResult> {
    return this.use((parts) => parts.work.claim(request));
  }

  complete(request: CompleteRequest): Promise<CompleteResult> {
    return this.use((parts) => parts.work.complete(request));
  }

  release(jobs: JobLease[]): Promise<void> {
    if (jobs.length === 0) return Promise.resolve();
    return this.use((parts) => parts.work.release(jobs));
  }

  controlWorkflow(request: RunControlRequest): Promise<RunControlResult | null> {
    return this.use(({ core }) => controlWorkflow(core, request));
  }

  // --- nodes and leases -----------------------------------------------------------------------

  registerNode(node: NewNode): Promise<void> {
    return this.use((parts) => parts.leases.registerNode(node));
  }

  heartbeat(nodeId: string, leaseMs: number, held?: readonly string[]): Promise<{ alive: boolean }> {
    return this.use((parts) => parts.leases.heartbeat(nodeId, leaseMs, held));
  }

  unregisterNode(nodeId: string): Promise<void> {
    return this.use((parts) => parts.leases.unregisterNode(nodeId));
  }

  recoverExpired(limit: number): Promise<RecoverResult> {
    return this.use((parts) => parts.leases.recoverExpired(limit));
  }

  listNodes(): Promise<NodeRecord[]> {
    return this.use((parts) => parts.leases.listNodes());
  }

  queueCounts(): Promise<QueueCount[]> {
    return this.use((parts) => parts.reads.queueCounts());
  }

  // --- rate limits ----------------------------------------------------------------------------

  setRateLimit(limit: RateLimit): Promise<void> {
    return this.use((parts) => parts.rateLimits.set(limit));
  }

  rateLimits(): Promise<RateLimit[]> {
    return this.use((parts) => parts.rateLimits.list());
  }

  removeRateLimit(name: string): Promise<boolean> {
    return this.use((parts) => parts.rateLimits.remove(name));
  }

  // --- schedules ------------------------------------------------------------------------------

  saveSchedule(schedule: NewSchedule): Promise<{ created: boolean }> {
    return this.use((parts) => parts.schedules.save(schedule));
  }

  removeSchedule(name: string): Promise<boolean> {
    return this.use((parts) => parts.schedules.remove(name));
  }

  listSchedules(): Promise<ScheduleRecord[]> {
    return this.use((parts) => parts.schedules.list());
  }

  claimScheduleTick(name: string, tick: number, workflowId: string | null): Promise<boolean> {
    return this.use((parts) => parts.schedules.claimTick(name, tick, workflowId));
  }

  // --- events ---------------------------------------------------------------------------------

  publish(events: BackendEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return this.use(async ({ core }) => {
      await core.batch(core.publishCalls(events), 'publishing events');
    });
  }

  subscribe(listener: EventListener): () => void {
    return this.open_().core.bus.subscribe(listener);
  }

  /**
   * Calls `listener` once if this backend stops for good: the connection gave up reconnecting
   * after `connection.maxAttempts`, or the server refused the database on a reconnect. Every
   * call then rejects with that error. (Proposed for the Backend contract as `onFatal`.)
   */
  onFatal(listener: (error: BackendError) => void): () => void {
    return this.open_().core.onFatal(listener);
  }

  onProblem(listener: (error: Error, during: string) => void): () => void {
    return this.problems.listen(listener);
  }

  // --- reads ----------------------------------------------------------------------------------

  getWorkflow(workflowId: string): Promise<WorkflowRecord | null> {
    return this.use((parts) => parts.reads.getWorkflow(workflowId));
  }

  listWorkflows(query: WorkflowQuery): Promise<WorkflowRecord[]> {
    return this.use((parts) => parts.reads.listWorkflows(query));
  }

  countWorkflows(query: WorkflowCountQuery): Promise<WorkflowCounts> {
    return this.use((parts) => parts.reads.countWorkflows(query));
  }

  getSteps(workflowId: string): Promise<StepRecord[]> {
    return this.use((parts) => parts.reads.getSteps(workflowId));
  }

  getStep(workflowId: string, stepId: string): Promise<StepRecord | null> {
    return this.use((parts) => parts.reads.getStep(workflowId, stepId));
  }

  getTasks(workflowId: string, stepId: string, page: TaskPage): Promise<TaskRecord[]> {
    return this.use((parts) => parts.reads.getTasks(workflowId, stepId, page));
  }

  // --- retention ------------------------------------------------------------------------------

  removeWorkflow(workflowId: string): Promise<boolean> {
    return this.use((parts) => parts.retention.removeWorkflow(workflowId));
  }

  sweep(limit: number): Promise<number> {
    return this.use((parts) => parts.retention.sweep(limit));
  }

  // --- internals ------------------------------------------------------------------------------

  /** Runs `action` on the open backend; rejects (never throws) when it is not open or failed for good. */
  private use<T>(action: (parts: Parts) => Promise<T>): Promise<T> {
    const parts = this.parts;
    if (parts === null) return Promise.reject(this.notOpen());
    if (parts.core.failure !== null) return Promise.reject(parts.core.failure);
    try {
      return action(parts);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private notOpen(): BackendError {
    return new BackendError(`the Redis backend at ${this.location} is not open (was DeFlow unregistered?)`);
  }

  private open_(): Parts {
    if (this.parts === null) throw this.notOpen();
    return this.parts;
  }

  private async connect(): Promise<void> {
    const assertOneSlot = this.options.assertOneSlot ?? process.env.DEFLOW_REDIS_ASSERT_SLOTS === '1';
    let core: RedisCore | null = null;
    const failed = (_link: RedisLink, error: BackendError): void => core?.fail(error);
    const commands = new RedisLink(this.settings, 'commands', (_link, reconnected) => {
      if (core === null) return;
      const ready = core;
      ready.connectedAt = null;
      ready.client
        .time()
        .then(([seconds, micros]) => {
          ready.connectedAt = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
        })
        .catch(() => undefined);
      if (reconnected) ready.hints.retrySoon();
      ready.followed.linkReady();
    }, failed);
    const events = new RedisLink(this.settings, 'events', (_link, reconnected) => {
      const ready = core;
      if (ready === null) return;
      if (!reconnected) {
        ready.followed.linkReady();
        return;
      }
      // Repair once subscribed again, so that nothing falls between the repair's reads and the channel.
      // If it fails, the connection dropped again, and its next reconnect repairs.
      ready.bus.confirmSubscribed().then(
        () => ready.followed.eventsReconnected(),
        (error: unknown) => debug('subscribing again after a reconnect failed: %O', error),
      );
    }, failed);
    const readOnly = this.options.readOnly === true;
    const scriptMode = readOnly ? 'eval' : (this.options.scriptMode ?? (process.env.DEFLOW_REDIS_SCRIPTS === 'eval' ? 'eval' : 'functions'));
    core = new RedisCore(commands, events, this.keys, assertOneSlot, scriptMode, this.problems);
    try {
      await commands.open();
      await core.scripts.prepare();
      await core.bus.open();
      const [seconds, micros] = await commands.client.time();
      core.connectedAt = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    } catch (error) {
      commands.close();
      events.close();
      throw commands.wrap(error, 'connecting');
    }
    if (this.closed) {
      commands.close();
      events.close();
      return;
    }
    const retention = new Retention(core);
    const reads = new Reads(core, retention, !readOnly);
    this.parts = {
      core,
      signals: new Signals(core),
      work: new Work(core),
      leases: new Leases(core),
      reads,
      retention,
      definitions: new Definitions(core, reads, retention),
      rateLimits: new RateLimits(core),
      schedules: new Schedules(core),
    };
  }
}
