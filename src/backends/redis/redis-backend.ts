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
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  CompleteResult,
  EventListener,
  JobLease,
  NewAnchoredSteps,
  NewNode,
  NewTasks,
  NewWorkflow,
  RecoverResult,
  RunnableSteps,
  TaskPage,
  WorkflowQuery,
} from '../backend.js';
import { BackendError } from '../../errors.js';
import type { NodeRecord, StepRecord, TaskRecord, WorkflowRecord } from '../types.js';
import type { RedisConnectionOptions } from '../../api/options.js';
import { RedisLink, redisSettings } from './connection.js';
import type { RedisSettings } from './connection.js';
import { RedisCore } from './core.js';
import { Definitions } from './definitions.js';
import { KeySpace } from './keys.js';
import { Leases } from './leases.js';
import { Reads } from './reads.js';
import type { ScriptMode } from './scripts.js';
import { Work } from './work.js';

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
}

interface Parts {
  core: RedisCore;
  work: Work;
  leases: Leases;
  reads: Reads;
  definitions: Definitions;
}

export class RedisBackend implements Backend {
  readonly kind = 'redis';
  readonly location: string;
  private readonly settings: RedisSettings;
  private readonly keys: KeySpace;
  private parts: Parts | null = null;
  private opening: Promise<void> | null = null;
  private closed = false;

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
    await parts.core.hints.close();
    parts.core.bus.close();
    parts.core.link.close();
  }

  async now(): Promise<number> {
    const { core } = this.open_();
    try {
      const [seconds, micros] = await core.client.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    } catch (error) {
      throw core.link.wrap(error, 'reading the clock');
    }
  }

  // --- definition -----------------------------------------------------------------------------

  createWorkflow(workflow: NewWorkflow): Promise<{ created: boolean; events: BackendEvent[] }> {
    return this.open_().definitions.createWorkflow(workflow);
  }

  addAnchoredSteps(input: NewAnchoredSteps): Promise<{ added: number }> {
    return this.open_().definitions.addAnchoredSteps(input);
  }

  addTasks(input: NewTasks): Promise<{ added: number; total: number }> {
    return this.open_().definitions.addTasks(input);
  }

  watchNextTask(workflowId: string): Promise<void> {
    return this.open_().definitions.watchNextTask(workflowId);
  }

  // --- work -----------------------------------------------------------------------------------

  async runnableSteps(limit: number): Promise<RunnableSteps> {
    const { core } = this.open_();
    try {
      return await core.discovery.runnableSteps(limit);
    } catch (error) {
      throw core.link.wrap(error, 'looking for work');
    }
  }

  claim(request: ClaimRequest): Promise<ClaimResult> {
    return this.open_().work.claim(request);
  }

  complete(request: CompleteRequest): Promise<CompleteResult> {
    return this.open_().work.complete(request);
  }

  release(jobs: JobLease[]): Promise<void> {
    if (jobs.length === 0) return Promise.resolve();
    return this.open_().work.release(jobs);
  }

  // --- nodes and leases -----------------------------------------------------------------------

  registerNode(node: NewNode): Promise<void> {
    return this.open_().leases.registerNode(node);
  }

  heartbeat(nodeId: string, leaseMs: number, held?: readonly string[]): Promise<{ alive: boolean }> {
    return this.open_().leases.heartbeat(nodeId, leaseMs, held);
  }

  unregisterNode(nodeId: string): Promise<void> {
    return this.open_().leases.unregisterNode(nodeId);
  }

  recoverExpired(limit: number): Promise<RecoverResult> {
    return this.open_().leases.recoverExpired(limit);
  }

  listNodes(): Promise<NodeRecord[]> {
    return this.open_().leases.listNodes();
  }

  // --- events ---------------------------------------------------------------------------------

  async publish(events: BackendEvent[]): Promise<void> {
    if (events.length === 0) return;
    const { core } = this.open_();
    try {
      await core.client.publish(this.keys.channel, JSON.stringify(events));
    } catch (error) {
      throw core.link.wrap(error, 'publishing events');
    }
  }

  subscribe(listener: EventListener): () => void {
    return this.open_().core.bus.subscribe(listener);
  }

  // --- reads ----------------------------------------------------------------------------------

  getWorkflow(workflowId: string): Promise<WorkflowRecord | null> {
    return this.open_().reads.getWorkflow(workflowId);
  }

  listWorkflows(query: WorkflowQuery): Promise<WorkflowRecord[]> {
    return this.open_().reads.listWorkflows(query);
  }

  getSteps(workflowId: string): Promise<StepRecord[]> {
    return this.open_().reads.getSteps(workflowId);
  }

  getStep(workflowId: string, stepId: string): Promise<StepRecord | null> {
    return this.open_().reads.getStep(workflowId, stepId);
  }

  getTasks(workflowId: string, stepId: string, page: TaskPage): Promise<TaskRecord[]> {
    return this.open_().reads.getTasks(workflowId, stepId, page);
  }

  // --- retention ------------------------------------------------------------------------------

  removeWorkflow(workflowId: string): Promise<boolean> {
    return this.open_().reads.removeWorkflow(workflowId);
  }

  sweep(limit: number): Promise<number> {
    return this.open_().reads.sweep(limit);
  }

  // --- internals ------------------------------------------------------------------------------

  private open_(): Parts {
    if (this.parts === null) throw new BackendError(`the Redis backend at ${this.location} is not open (was DeFlow unregistered?)`);
    return this.parts;
  }

  private async connect(): Promise<void> {
    const assertOneSlot = this.options.assertOneSlot ?? process.env.DEFLOW_REDIS_ASSERT_SLOTS === '1';
    let core: RedisCore | null = null;
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
    });
    const events = new RedisLink(this.settings, 'events', (_link, reconnected) => {
      if (reconnected && core !== null) core.repairAfterReconnect().catch(() => undefined);
    });
    const scriptMode = this.options.scriptMode ?? (process.env.DEFLOW_REDIS_SCRIPTS === 'eval' ? 'eval' : 'functions');
    core = new RedisCore(commands, events, this.keys, assertOneSlot, scriptMode);
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
    const reads = new Reads(core);
    this.parts = { core, work: new Work(core), leases: new Leases(core), reads, definitions: new Definitions(core, reads) };
  }
}
