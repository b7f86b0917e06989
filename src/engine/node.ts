/**
 * One node: the runtime of one process that joined deflow. It owns the node's lifecycle, routes
 * backend events, and reports problems; finding work is StepDiscovery's job, running a step's
 * jobs a StepRunner's.
 *
 * Lifecycle:  created -> starting -> running -> draining -> stopped
 *   starting  registers in the backend, subscribes to wake-ups, starts heartbeats
 *   running   finds runnable steps whose handler it can load and runs their jobs
 *   draining  claims nothing more, hands back unstarted jobs, waits for running ones,
 *             flushes outcomes, unregisters (anything still held goes back to the queue)
 *   (halt: running -> stopped at once, when the backend stopped for good)
 *
 * A node with `worker: false` only creates and watches workflows; it never claims work.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import createDebug from 'debug';
import type { AdoptRequest, AdoptedStep, Backend, BackendEvent, ClaimedJob, CompleteResult, JobOutcome } from '../backends/backend.js';
import { DEFAULT_QUEUES } from '../backends/policy.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { DeflowError, LeaseLostError, WORKFLOW_CANCELLED, deserializeError } from '../errors.js';
import type { SerializedError } from '../errors.js';
import { CompletionBatcher } from './completion-batcher.js';
import { EventHub } from './event-hub.js';
import type { ExecutionHooks } from './executor.js';
import { ABORT_TASK } from './handler-contract.js';
import type { TaskView, ViewFactory } from './handler-contract.js';
import { registeredKeys } from './handler-registry.js';
import { HandlerResolver } from './handler-resolver.js';
import { IsolationPools } from './isolation.js';
import { LeaseKeeper } from './lease-keeper.js';
import { ModulePolicy } from './module-policy.js';
import { leaseOf } from './lease.js';
import type { NodeOptions, NodeProblem, NodeState } from './node-options.js';
import { RepeatFilter } from './repeat-filter.js';
import { RunnerSet } from './runner-set.js';
import { StepDiscovery } from './step-discovery.js';
import type { HostedRunner, StepRunnerHost } from './step-runner-host.js';
import { noteLeasesRecovered } from './telemetry.js';

const debug = createDebug('deflow:engine:node');

/** The same problem (what failed, and its message) is reported at most this often. */
const REPEAT_REPORT_MS = 1_000;

/** How long tasks aborted at shutdown get to settle before the node leaves without them. */
const ABORT_GRACE_MS = 1_000;

/** Longest a node runs jobs without yielding to the event loop (timers and I/O must run). */
const YIELD_EVERY_MS = 15;

export class WorkerNode implements StepRunnerHost {
  readonly id = randomUUID();
  readonly hub: EventHub;
  readonly batcher: CompletionBatcher;
  readonly executionHooks: ExecutionHooks;
  readonly maxBatch: number;
  readonly clock: Clock;
  private state: NodeState = 'created';
  private readonly runners: RunnerSet;
  private readonly discovery: StepDiscovery;
  private readonly leaseKeeper: LeaseKeeper;
  /** Tasks running on this node, with their workflow's id (a cancel aborts those of its workflow). */
  private readonly runningTasks = new Map<TaskView, string>();
  /** Workflows this node heard were cancelled (recent ones): their refused results are expected. */
  private readonly cancelled = new Set<string>();
  private readonly isolation: IsolationPools;
  private unsubscribe: (() => void) | null = null;
  private lastYield: number;
  /** A yield to the event loop is scheduled and has not run yet. */
  private yieldPending = false;
  private readonly repeats: RepeatFilter;
  private readonly reportedCorrupt = new Set<string>();

  /** Queues whose steps this node runs. */
  get queues(): readonly string[] {
    return this.options.queues ?? DEFAULT_QUEUES;
  }

  get stepDirs(): readonly string[] {
    return this.options.stepDirs ?? [];
  }

  constructor(
    readonly backend: Backend,
    readonly views: ViewFactory,
    private readonly options: NodeOptions,
    private readonly onProblem: (problem: NodeProblem) => void,
    resolver?: HandlerResolver,
  ) {
    this.clock = options.clock ?? systemClock;
    this.lastYield = this.clock.monotonic();
    this.runners = new RunnerSet(this.clock);
    this.repeats = new RepeatFilter(REPEAT_REPORT_MS, this.clock);
    this.hub = new EventHub(backend);
    this.maxBatch = options.maxBatch;
    this.discovery = new StepDiscovery(this, this.runners, {
      intervalMs: options.discoverIntervalMs,
      resolver: resolver ?? new HandlerResolver(new ModulePolicy(options.stepDirs)),
      problem: (during, error) => this.problem(during, error),
    });
    this.batcher = new CompletionBatcher(backend, {
      maxBatch: options.maxBatch,
      maxDelayMs: options.flushDelayMs,
      clock: this.clock,
      onResult: (result, sent) => this.onCompleted(result, sent),
      onError: (error) => this.problem('complete', error),
      adopt: () => this.adoptRequest(),
    });
    this.executionHooks = {
      onTaskStart: (event) => this.batcher.addEvent(event),
      begin: (task, workflowId) => this.runningTasks.set(task, workflowId),
      end: (task) => this.runningTasks.delete(task),
      isolate: (kind, context, handler, task) => this.isolation.run(kind, context, handler, task.signal),
    };
    this.isolation = new IsolationPools(views.isolationEntry, options.poolSize);
    this.leaseKeeper = new LeaseKeeper(backend, {
      nodeId: this.id,
      leaseMs: options.leaseMs,
      recoverIntervalMs: options.checkProcessQueueInterval,
      sweepIntervalMs: Math.max(1_000, options.checkProcessQueueInterval * 5),
      clock: this.clock,
      heldJobs: () => this.heldJobIds(),
      onDeclaredDead: () => void this.rejoin(),
      onRenewed: () => this.runners.kickAll(),
      onRecovered: (count) => {
        noteLeasesRecovered(count);
        this.discovery.discover();
      },
      onError: (error, during) => this.problem(during, error),
    });
  }

  get nodeId(): string {
    return this.id;
  }

  get status(): NodeState {
    return this.state;
  }

  /** What this node can take of the steps its own call makes runnable (undefined: nothing, not a worker now). */
  adoptRequest(): AdoptRequest | undefined {
    return this.accepting ? { nodeId: this.id, handlers: registeredKeys(), limit: this.options.maxBatch, queues: this.queues } : undefined;
  }

  /** Steps an event this process delivered started, claimed for this node in the same round trip. */
  adoptDelivered(adopted: AdoptedStep[]): void {
    this.discovery.afterCompletion({ stale: [], events: [], adopted }, []);
  }

  get accepting(): boolean {
    return this.state === 'running' && this.options.worker;
  }

  get leaseFresh(): boolean {
    return this.leaseKeeper.fresh;
  }

  get isWorker(): boolean {
    return this.options.worker;
  }

  async start(): Promise<void> {
    if (this.state !== 'created') return;
    this.state = 'starting';
    if (this.options.worker) {
      await this.register();
      this.unsubscribe = this.backend.subscribe((event) => this.onEvent(event));
      this.leaseKeeper.start();
      this.discovery.start();
    }
    this.state = 'running';
    if (this.options.worker) this.discovery.discover();
  }

  /** Stops claiming, hands back unstarted jobs, waits for running ones, then unregisters. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'draining') return;
    const wasWorker = this.options.worker && this.state === 'running';
    this.state = 'draining';
    this.stopLooking();
    if (wasWorker) {
      const unstarted = this.runners.stopAll();
      await this.safely('release', () => this.releaseNow(unstarted));
      const drained = await this.runners.whenIdle(this.options.drainTimeoutMs);
      if (!drained) {
        // Their jobs go back to the queue with the node (unregisterNode), no attempt counted.
        this.batcher.dropFailures();
        const reason = new LeaseLostError('deflow is shutting down: this node stopped before the task finished');
        for (const task of this.runningTasks.keys()) task[ABORT_TASK](reason);
        await this.runners.whenIdle(ABORT_GRACE_MS);
      }
      await this.safely('complete', async () => {
        await this.batcher.flush();
      });
      this.batcher.close();
      this.leaseKeeper.stop();
      await this.safely('unregister', () => this.backend.unregisterNode(this.id));
    }
    await this.safely('isolation', () => this.isolation.close());
    this.hub.close();
    this.runners.clear();
    this.state = 'stopped';
  }

  /**
   * The backend stopped for good: stop every timer and loop at once, without a backend call
   * (each would only fail again). Running tasks are aborted: their outcomes cannot be stored.
   */
  halt(reason: Error): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.stopLooking();
    this.runners.forgetAll();
    for (const task of this.runningTasks.keys()) task[ABORT_TASK](reason);
    this.batcher.close();
    this.leaseKeeper.stop();
    this.hub.close();
    this.runners.clear();
    this.runners.wakeIdleWaiters();
    this.isolation.close().catch((error: unknown) => this.problem('isolation', error));
  }

  activeJobs(): number {
    return this.runners.activeJobs();
  }

  shouldYield(): boolean {
    // While a yield is pending, later claims wait behind it too (setImmediate runs in order), so
    // runners keep the order they asked in: the first, highest-priority step is not overtaken.
    if (this.yieldPending) return true;
    const now = this.clock.monotonic();
    if (now - this.lastYield < YIELD_EVERY_MS) return false;
    this.lastYield = now;
    this.yieldPending = true;
    setImmediate(() => {
      this.yieldPending = false;
    });
    return true;
  }

  onRunnerIdle(runner: HostedRunner): void {
    this.runners.dropIfDone(runner);
    if (this.activeJobs() === 0) {
      this.batcher.flushSoon(0);
      this.runners.wakeIdleWaiters();
    }
  }

  onRateLimited(_runner: HostedRunner, delayMs: number): void {
    this.discovery.discoverIn(delayMs);
  }

  onClaimError(runner: HostedRunner, error: unknown): void {
    if (error instanceof LeaseLostError) {
      void this.rejoin();
      return;
    }
    this.problem('claim', error);
    this.leaseKeeper.requestReconcile();
    this.discovery.retryLater(runner);
  }

  reportCorrupt(error: SerializedError): void {
    // Once per record (the message names it), however many of its jobs fail, and whenever.
    if (this.reportedCorrupt.has(error.message)) return;
    if (this.reportedCorrupt.size >= 1_000) this.reportedCorrupt.clear();
    this.reportedCorrupt.add(error.message);
    this.onProblem({ during: 'reading a stored record', error: deserializeError(error) });
  }

  releaseJobs(jobs: readonly ClaimedJob[]): void {
    void this.safely('release', () => this.releaseNow(jobs));
  }

  /** No more discovery rounds, retries or wake-ups. */
  private stopLooking(): void {
    this.discovery.stop();
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private onEvent(event: BackendEvent): void {
    switch (event.type) {
      case 'work':
        this.discovery.onWork(event);
        return;
      case 'wake':
        this.batcher.retryNow();
        this.discovery.discover();
        return;
      case 'watch':
        this.runners.watchNextTask(event.workflowId);
        return;
      case 'workflow':
        // Cancelled (or removed, announced the same way): its attempts here stop now.
        if (event.status === 'cancelled') this.abortWorkflow(event.workflowId);
        return;
      case 'resync':
        // Events were lost: a cancel among them would leave attempts running here for nothing.
        void this.abortIfCancelled([...new Set(this.runningTasks.values())]);
        return;
      default:
        return;
    }
  }

  /**
   * A workflow was cancelled: the jobs of it this node holds are dropped unstarted, and its
   * running attempts see `task.signal` abort (an isolated one's worker is replaced). Their
   * results would be refused anyway: the cancel dropped their leases.
   */
  private abortWorkflow(workflowId: string): void {
    if (this.cancelled.size >= 1_000) this.cancelled.clear();
    this.cancelled.add(workflowId);
    this.runners.forgetWorkflow(workflowId);
    const reason = new DeflowError(WORKFLOW_CANCELLED, `workflow ${workflowId} was cancelled: this attempt was aborted and its result will be refused`);
    for (const [task, id] of this.runningTasks) if (id === workflowId) task[ABORT_TASK](reason);
  }

  /** Asks the store about workflows whose cancel this node may have missed, and aborts their attempts here. */
  private async abortIfCancelled(workflowIds: readonly string[]): Promise<void> {
    for (const id of workflowIds) {
      if (id === '' || this.cancelled.has(id) || ![...this.runningTasks.values()].includes(id)) continue;
      try {
        const record = await this.backend.getWorkflow(id);
        if (record === null || record.status === 'cancelled') this.abortWorkflow(id);
      } catch (error) {
        this.problem('checking for a cancel', error);
      }
    }
  }

  private onCompleted(result: CompleteResult, sent: readonly JobOutcome[]): void {
    // Results of cancelled workflows are refused by design: not a problem worth reporting.
    const workflowOf = new Map(sent.map((outcome) => [outcome.id, outcome.workflowId]));
    const stale = result.stale.filter((id) => !this.cancelled.has(workflowOf.get(id) ?? ''));
    // A refused result may be the first news of a cancel this node missed: its other attempts stop too.
    if (stale.length > 0) void this.abortIfCancelled([...new Set(stale.map((id) => workflowOf.get(id) ?? ''))]);
    if (stale.length > 0) {
      this.problem(
        'complete',
        new LeaseLostError(
          `${stale.length} of ${sent.length} results were refused because their lease was no longer this node's ` +
            '(it was presumed dead and another node took the jobs over, their workflow was removed, or a batch retried ' +
            'after a lost answer had landed the first time); none was applied twice',
        ),
      );
    }
    this.discovery.afterCompletion(result, sent);
  }

  /** The backend declared this node dead (it missed heartbeats): its jobs are gone; join again. */
  private async rejoin(): Promise<void> {
    if (this.state !== 'running' || !this.options.worker) return;
    debug('node %s was declared dead; registering again', this.id);
    this.runners.forgetAll();
    this.problem('heartbeat', new LeaseLostError(`node ${this.id} missed its heartbeats and was declared dead; it registered again`));
    await this.safely('register', () => this.register());
    this.discovery.discover();
  }

  private register(): Promise<void> {
    return this.backend.registerNode({
      id: this.id,
      host: hostname(),
      pid: process.pid,
      handlers: registeredKeys(),
      queues: [...this.queues],
      leaseMs: this.options.leaseMs,
    });
  }

  /** Ids of every job this node holds, or undefined while a round trip is in flight (unknowable). */
  private heldJobIds(): string[] | undefined {
    if (this.batcher.busy) return undefined;
    const fromRunners = this.runners.heldJobIds();
    if (fromRunners === undefined) return undefined;
    // Jobs whose outcome waits in the batcher are still this node's until it lands.
    return [...this.batcher.pendingIds(), ...fromRunners];
  }

  private async releaseNow(jobs: readonly ClaimedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.backend.release(jobs.map(leaseOf));
  }

  private async safely(during: string, action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (error) {
      this.problem(during, error);
    }
  }

  private problem(during: string, error: unknown): void {
    debug('%s failed: %O', during, error);
    if (this.repeats.isFresh(during, error)) this.onProblem({ during, error });
  }
}
