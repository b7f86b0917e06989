/**
 * One node: the runtime of one process that joined deflow.
 *
 * Lifecycle:  created -> starting -> running -> draining -> stopped
 *   starting  registers in the backend, subscribes to wake-ups, starts heartbeats
 *   running   finds runnable steps whose handler it can load and runs their jobs
 *   draining  claims nothing more, hands back unstarted jobs, waits for running ones,
 *             flushes outcomes, unregisters (anything still held goes back to the queue)
 *
 * A node with `worker: false` only creates and watches workflows; it never claims work.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import createDebug from 'debug';
import type { Backend, BackendEvent, ClaimedJob, CompleteResult, JobOutcome, RunnableStep } from '../backends/backend.js';
import { systemClock } from '../clock.js';
import type { Clock, ClockTimer } from '../clock.js';
import { LeaseLostError, StepModuleError } from '../errors.js';
import { CompletionBatcher } from './completion-batcher.js';
import { EarliestTimer } from './earliest-timer.js';
import { EventHub } from './event-hub.js';
import type { ExecutionHooks } from './executor.js';
import { IsolationPools } from './isolation.js';
import { LeaseKeeper } from './lease-keeper.js';
import { RepeatFilter } from './repeat-filter.js';
import { leaseOf } from './lease.js';
import { handlerFor, registeredKeys } from './handler-registry.js';
import { HandlerResolver } from './handler-resolver.js';
import type { HostedRunner, StepRunnerHost } from './step-runner-host.js';
import { StepRunner, runnerKey } from './step-runner.js';
import { ABORT_TASK } from './handler-contract.js';
import type { TaskView, ViewFactory } from './handler-contract.js';

const debug = createDebug('deflow:engine:node');

/** The same problem (what failed, and its message) is reported at most this often. */
const REPEAT_REPORT_MS = 1_000;

/** How long tasks aborted at shutdown get to settle before the node leaves without them. */
const ABORT_GRACE_MS = 1_000;

export type NodeState = 'created' | 'starting' | 'running' | 'draining' | 'stopped';

export interface NodeOptions {
  /** Run jobs (true) or only create and watch workflows (false). */
  worker: boolean;
  /** Lease of the node over the jobs it holds; renewed every leaseMs / 3. */
  leaseMs: number;
  /** How often this node looks for jobs of dead nodes; 0 disables it on this node. */
  checkProcessQueueInterval: number;
  /** Most jobs claimed or completed in one round trip. */
  maxBatch: number;
  /** Longest an outcome waits for batch-mates while other jobs run. */
  flushDelayMs: number;
  /** Safety net: look for runnable steps this often even without a wake-up. */
  discoverIntervalMs: number;
  /** How long unregister waits for running jobs before aborting them. */
  drainTimeoutMs: number;
  /** Workers per isolation pool (steps with isolation: 'thread' | 'process'). */
  poolSize: number;
  /** Where the node reads time and sets its timers; the system clock by default. */
  clock?: Clock;
}

export interface NodeProblem {
  /** What the node was doing: heartbeat, claim, complete, discover, recovery, retention... */
  during: string;
  error: unknown;
}

export class WorkerNode implements StepRunnerHost {
  readonly id = randomUUID();
  readonly hub: EventHub;
  readonly batcher: CompletionBatcher;
  readonly executionHooks: ExecutionHooks;
  readonly maxBatch: number;
  readonly clock: Clock;
  private state: NodeState = 'created';
  private readonly runners = new Map<string, StepRunner>();
  private readonly resolver: HandlerResolver;
  private readonly leaseKeeper: LeaseKeeper;
  private readonly runningTasks = new Set<TaskView>();
  /** Steps the last completion adopted: their work events need no discovery. */
  private readonly adoptedWork = new Set<string>();
  private readonly isolation: IsolationPools;
  private discovery: 'idle' | 'running' | 'again' = 'idle';
  private discoverTimer: ClockTimer | null = null;
  private retryTimer: ClockTimer | null = null;
  private unsubscribe: (() => void) | null = null;
  private lastYield: number;
  private idleWaiters: (() => void)[] = [];
  private readonly reportedUnloadable = new Set<string>();
  private readonly repeats: RepeatFilter;
  /** Looks again when a delayed retry is due. */
  private readonly delayedDiscovery: EarliestTimer;

  constructor(
    readonly backend: Backend,
    readonly views: ViewFactory,
    private readonly options: NodeOptions,
    private readonly onProblem: (problem: NodeProblem) => void,
    resolver?: HandlerResolver,
  ) {
    this.clock = options.clock ?? systemClock;
    this.lastYield = this.clock.monotonic();
    this.repeats = new RepeatFilter(REPEAT_REPORT_MS, this.clock);
    this.delayedDiscovery = new EarliestTimer(this.clock, () => this.discover());
    this.hub = new EventHub(backend);
    this.maxBatch = options.maxBatch;
    this.resolver = resolver ?? new HandlerResolver();
    this.batcher = new CompletionBatcher(backend, {
      maxBatch: options.maxBatch,
      maxDelayMs: options.flushDelayMs,
      clock: this.clock,
      onResult: (result, sent) => this.onCompleted(result, sent),
      onError: (error) => this.problem('complete', error),
      adopt: () => (this.accepting ? { nodeId: this.id, handlers: registeredKeys(), limit: this.options.maxBatch } : undefined),
    });
    this.executionHooks = {
      onTaskStart: (event) => this.batcher.addEvent(event),
      begin: (task) => this.runningTasks.add(task),
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
      onRenewed: () => {
        for (const runner of this.runners.values()) runner.kick();
      },
      onRecovered: () => this.discover(),
      onError: (error, during) => this.problem(during, error),
    });
  }

  get nodeId(): string {
    return this.id;
  }

  get status(): NodeState {
    return this.state;
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
      await this.backend.registerNode({
        id: this.id,
        host: hostname(),
        pid: process.pid,
        handlers: registeredKeys(),
        leaseMs: this.options.leaseMs,
      });
      this.unsubscribe = this.backend.subscribe((event) => this.onEvent(event));
      this.leaseKeeper.start();
      this.discoverTimer = this.clock.every(this.options.discoverIntervalMs, () => this.discover());
    }
    this.state = 'running';
    if (this.options.worker) this.discover();
  }

  /** Stops claiming, hands back unstarted jobs, waits for running ones, then unregisters. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'draining') return;
    const wasWorker = this.options.worker && this.state === 'running';
    this.state = 'draining';
    this.stopLooking();
    if (wasWorker) {
      const unstarted = [...this.runners.values()].flatMap((runner) => runner.stop());
      await this.safely('release', () => this.releaseNow(unstarted));
      const drained = await this.waitForIdle(this.options.drainTimeoutMs);
      if (!drained) {
        // Their jobs go back to the queue with the node (unregisterNode), no attempt counted.
        this.batcher.dropFailures();
        const reason = new LeaseLostError('deflow is shutting down: this node stopped before the task finished');
        for (const task of this.runningTasks) task[ABORT_TASK](reason);
        await this.waitForIdle(ABORT_GRACE_MS);
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
    for (const runner of this.runners.values()) runner.forget();
    for (const task of this.runningTasks) task[ABORT_TASK](reason);
    this.batcher.close();
    this.leaseKeeper.stop();
    this.hub.close();
    this.runners.clear();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.isolation.close().catch((error: unknown) => this.problem('isolation', error));
  }

  /** No more discovery rounds, retries or wake-ups. */
  private stopLooking(): void {
    this.discoverTimer?.cancel();
    this.retryTimer?.cancel();
    this.delayedDiscovery.cancel();
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  activeJobs(): number {
    let total = 0;
    for (const runner of this.runners.values()) total += runner.active;
    return total;
  }

  shouldYield(): boolean {
    const now = this.clock.monotonic();
    if (now - this.lastYield < 15) return false;
    this.lastYield = now;
    return true;
  }

  onRunnerIdle(runner: HostedRunner): void {
    if (runner.idle && runner.isDrained && this.runners.get(runner.key) === runner) {
      this.runners.delete(runner.key);
    }
    if (this.activeJobs() === 0) {
      this.batcher.flushSoon(0);
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  onClaimError(runner: HostedRunner, error: unknown): void {
    if (error instanceof LeaseLostError) {
      void this.rejoin();
      return;
    }
    this.problem('claim', error);
    this.leaseKeeper.requestReconcile();
    // Back off, then try again: the backend may be restarting.
    if (this.retryTimer === null && this.accepting) {
      this.retryTimer = this.clock.after(500, () => {
        this.retryTimer = null;
        runner.kick();
        this.discover();
      });
    }
  }

  releaseJobs(jobs: readonly ClaimedJob[]): void {
    void this.safely('release', () => this.releaseNow(jobs));
  }

  /** Looks for runnable steps this node can run and starts runners for them. */
  discover(): void {
    if (!this.accepting) return;
    if (this.discovery !== 'idle') {
      this.discovery = 'again';
      return;
    }
    this.discovery = 'running';
    this.discoverOnce()
      .catch((error: unknown) => this.problem('discover', error))
      .finally(() => {
        const again = this.discovery === 'again';
        this.discovery = 'idle';
        if (again) this.discover();
      });
  }

  private async discoverOnce(): Promise<void> {
    const { steps, nextRunAt, now } = await this.backend.runnableSteps(100);
    for (const step of steps) {
      const existing = this.runners.get(runnerKey(step.workflowId, step.stepId));
      if (existing !== undefined) {
        existing.kick();
        continue;
      }
      await this.startRunner(step);
    }
    if (nextRunAt !== null) this.delayedDiscovery.in(Math.max(0, nextRunAt - now) + 5);
  }


  private async startRunner(step: RunnableStep): Promise<void> {
    const resolved = this.resolver.resolve(step.handler);
    const handler = resolved instanceof Promise ? await resolved : resolved;
    if (handler === null) {
      this.reportUnloadable(step);
      return;
    }
    if (!this.accepting) return;
    const key = runnerKey(step.workflowId, step.stepId);
    let runner = this.runners.get(key);
    if (runner === undefined) {
      runner = new StepRunner(this, step, handler);
      this.runners.set(key, runner);
    }
    runner.kick();
  }

  private onEvent(event: BackendEvent): void {
    switch (event.type) {
      case 'work': {
        // One turn later: a completion that adopted this step must create its runner first,
        // or this event would start a needless discovery round trip.
        const key = runnerKey(event.workflowId, event.stepId);
        setImmediate(() => {
          if (this.adoptedWork.has(key)) return; // the completion already handed us this work
          const runner = this.runners.get(key);
          if (runner === undefined) this.discover();
          else runner.kick();
        });
        return;
      }
      case 'wake':
        this.batcher.retryNow();
        this.discover();
        return;
      case 'watch':
        for (const runner of this.runners.values()) {
          if (runner.step.workflowId === event.workflowId) runner.watchNextTask = true;
        }
        return;
      default:
        return;
    }
  }

  private onCompleted(result: CompleteResult, sent: readonly JobOutcome[]): void {
    // A retry after a delay is claimable only then: look again when it is due, not at the next safety-net round.
    let retryIn = Infinity;
    for (const outcome of sent) {
      if (outcome.status === 'retry' && outcome.retryDelayMs > 0) retryIn = Math.min(retryIn, outcome.retryDelayMs);
    }
    if (retryIn !== Infinity && this.accepting) this.delayedDiscovery.in(retryIn + 5);
    if (result.stale.length > 0) {
      this.problem(
        'complete',
        new LeaseLostError(
          `${result.stale.length} of ${sent.length} results were refused because their lease was no longer this node's ` +
            '(it was presumed dead and another node took the jobs over, their workflow was removed, or a batch retried ' +
            'after a lost answer had landed the first time); none was applied twice',
        ),
      );
    }
    if (result.adopted !== undefined && result.adopted.length > 0 && this.adoptedWork.size === 0) {
      // Forget after this turn: only the work events of this completion are covered.
      setImmediate(() => this.adoptedWork.clear());
    }
    for (const { step, claim } of result.adopted ?? []) {
      const key = runnerKey(step.workflowId, step.stepId);
      this.adoptedWork.add(key);
      let runner = this.runners.get(key);
      const handler = handlerFor(step.handler);
      if (runner === undefined && handler !== undefined && this.accepting) {
        runner = new StepRunner(this, step, handler);
        this.runners.set(key, runner);
      }
      if (runner === undefined) this.releaseJobs(claim.jobs);
      else runner.adopt(claim);
    }
    for (const event of result.events) {
      if (event.type === 'work') this.onEvent(event);
    }
  }

  /**
   * A step module that exists but fails to load is a bug the user must hear about (once per
   * handler); a handler this node simply does not have is another node's business.
   */
  private reportUnloadable(step: RunnableStep): void {
    const key = step.handler.key;
    if (!this.resolver.isBroken(key) || this.reportedUnloadable.has(key)) return;
    this.reportedUnloadable.add(key);
    const why = this.resolver.whyUnloadable(key) ?? 'it could not be loaded';
    this.problem(
      'load',
      new StepModuleError(`this node cannot run step "${step.name}" of workflow ${step.workflowId}: ${why}; it leaves the step to other nodes`),
    );
  }

  /** The backend declared this node dead (it missed heartbeats): its jobs are gone; join again. */
  private async rejoin(): Promise<void> {
    if (this.state !== 'running' || !this.options.worker) return;
    debug('node %s was declared dead; registering again', this.id);
    for (const runner of this.runners.values()) runner.forget();
    this.problem('heartbeat', new LeaseLostError(`node ${this.id} missed its heartbeats and was declared dead; it registered again`));
    await this.safely('register', () =>
      this.backend.registerNode({
        id: this.id,
        host: hostname(),
        pid: process.pid,
        handlers: registeredKeys(),
        leaseMs: this.options.leaseMs,
      }),
    );
    this.discover();
  }

  /** Ids of every job this node holds, or undefined while a round trip is in flight (unknowable). */
  private heldJobIds(): string[] | undefined {
    if (this.batcher.busy) return undefined;
    // Jobs whose outcome waits in the batcher are still this node's until it lands.
    const held: string[] = this.batcher.pendingIds();
    for (const runner of this.runners.values()) {
      if (runner.claimInFlight) return undefined;
      held.push(...runner.heldJobIds());
    }
    return held;
  }

  private async releaseNow(jobs: readonly ClaimedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.backend.release(jobs.map(leaseOf));
  }

  private waitForIdle(timeoutMs: number): Promise<boolean> {
    if (this.activeJobs() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.after(timeoutMs, () => resolve(false));
      this.idleWaiters.push(() => {
        timer.cancel();
        resolve(true);
      });
    });
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
