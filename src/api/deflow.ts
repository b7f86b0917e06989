/**
 * DeFlow: joins this process to a backend as a node (DeFlow-compatible `register` /
 * `unregister`). One registration per process; WorkFlow and Step use it implicitly.
 *
 * Lifecycle:  connecting -> ready -> closing -> closed   (connecting -> failed when the backend
 *             refuses, or stays unreachable past startupTimeout (it is tried again meanwhile);
 *             ready -> failed when it gives up for good, e.g. Redis's maxAttempts)
 */
import type { EmitOptions, GlobalEmitOptions } from './events.js';
import { emitGlobal, signalWorkflow } from './signals.js';
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import type { Backend } from '../backends/backend.js';
import { refusalError } from '../backends/failures.js';
import { systemClock } from '../clock.js';
import { DeflowError, NotRegisteredError, ValidationError } from '../errors.js';
import { checkNoNul, nonEmptyString } from '../option-checks.js';
import { WorkerNode } from '../engine/node.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, setMaxPayloadBytes } from '../engine/json.js';
import type { NodeProblem } from '../engine/node-options.js';
import { chooseBackend, ignoredOptions } from '../backends/registry.js';
import { describe } from '../option-checks.js';
import { redactError, redactUrl, secretsOf } from '../backends/redact-url.js';
import type { ChosenBackend } from '../backends/registry.js';
import { backendInput, checkRateLimitName, checkRateLimitOptions, checkRegisterOptions } from './options.js';
import type { RateLimitOptions, RegisterOptions, ResolvedRegisterOptions } from './options.js';
import { controlRun } from './run-control.js';
import { openBackend } from './startup-retry.js';
import { warnIfEveryFileAllowed } from './step-dirs.js';
import { views } from './views.js';
import { findDefinition, listDefinitions, requireDefinition } from './definition-registry.js';
import { Scheduler } from './schedules/scheduler.js';
import { listSchedules, removeSchedule, saveSchedule } from './schedules/schedules.js';
import type { ScheduleInfo, ScheduleOptions } from './schedules/schedule-options.js';
import type { DefinitionInfo, StartOptions } from './definition-registry.js';
import type { WorkFlow } from './workflow.js';
import { retryStored } from './workflow-retry.js';
import type { RetryOptions } from './workflow-retry.js';

export type DeFlowState = 'connecting' | 'ready' | 'failed' | 'closing' | 'closed';

export interface DeFlowEvents {
  /** Something failed in the background (heartbeat, claim, flush...); work continues or retries. */
  error: [error: Error, during: string];
}

/** Something that must be told when the registration ends (a workflow handle waiting for its end). */
export interface RegistrationWatcher {
  registrationClosed(error: Error): void;
}

const WARNING_INTERVAL_MS = 30_000;

// The registration is per process, shared through globalThis so that a second copy of deflow
// (a global CLI running a project that installs its own) sees the same one.
const CURRENT = Symbol.for('deflow.currentRegistration');
const registry = globalThis as typeof globalThis & { [CURRENT]?: DeFlow | null };

export class DeFlow extends EventEmitter<DeFlowEvents> {
  static get #current(): DeFlow | null {
    return registry[CURRENT] ?? null;
  }

  static set #current(value: DeFlow | null) {
    registry[CURRENT] = value;
  }

  readonly options: ResolvedRegisterOptions;
  readonly #chosenBackend: ChosenBackend;
  #state: DeFlowState = 'connecting';
  #backend: Backend | null = null;
  #node: WorkerNode | null = null;
  #scheduler: Scheduler | null = null;
  #failure: Error | null = null;
  readonly #ready: Promise<void>;
  readonly #watchers = new Set<RegistrationWatcher>();
  /** Work accepted before unregister() (a run() storing its workflow) that it must wait for. */
  readonly #accepted = new Set<Promise<unknown>>();
  readonly #lastWarning = new Map<string, number>();
  /** The passwords of the backend URL and connection: hidden in every error this registration reports. */
  readonly #secrets: readonly string[];
  /** Cuts short the pause between two attempts to reach the backend (unregister() while connecting). */
  #stopWaiting: (() => void) | null = null;

  private constructor(options: ResolvedRegisterOptions, backend: ChosenBackend) {
    super();
    this.options = options;
    this.#secrets = secretsOf(options.backend, options.connection?.password);
    this.#chosenBackend = backend;
    this.#ready = this.#connect();
    // Failures are reported by ready(), by every call that needs the backend, and as a warning.
    this.#ready.catch(() => undefined);
  }

  /**
   * Joins this process to the backend (SQLite under ./.deflow/ by default). Throws at once for
   * bad options; connection problems reject `ready()` and every call that needs the backend.
   */
  static register(options?: RegisterOptions): DeFlow {
    const current = DeFlow.#current;
    if (current !== null && current.state !== 'closed') {
      throw new ValidationError('DeFlow is already registered in this process; call await DeFlow.unregister() first');
    }
    const resolved = checkRegisterOptions(options);
    const input = backendInput(resolved);
    const backend = chooseBackend(input);
    // prefix and schema given for another backend isolate nothing. A warning, not an error:
    // apps often switch backends with $DEFLOW_BACKEND.
    for (const warning of ignoredOptions(input, backend)) {
      process.emitWarning(warning, { type: 'DeflowWarning', code: 'DEFLOW_IGNORED_OPTION' });
    }
    warnIfEveryFileAllowed(resolved.stepDirs, resolved.worker);
    const instance = new DeFlow(resolved, backend);
    DeFlow.#current = instance;
    setMaxPayloadBytes(resolved.maxPayloadBytes);
    return instance;
  }

  /** Stops claiming, lets running jobs finish (or hands them back), then disconnects. */
  static async unregister(): Promise<void> {
    const current = DeFlow.#current;
    DeFlow.#current = null;
    await current?.close();
  }

  /**
   * Retries a finished workflow by id, without a handle (as `workflow.retry()`); resolves with a
   * handle on it, whose `done()` follows the new outcome.
   */
  static async retry(workflowId: string, options?: RetryOptions): Promise<WorkFlow> {
    checkNoNul(nonEmptyString(workflowId, 'DeFlow.retry() id'), 'DeFlow.retry() id');
    const { backend } = await DeFlow.getInstance().services();
    await retryStored(backend, workflowId, options, 'DeFlow.retry()');
    // Imported on use: workflow.ts imports this module.
    const { WorkFlow } = await import('./workflow.js');
    const handle = await WorkFlow.getById(workflowId);
    if (handle === null) throw refusalError({ code: 'ERR_NOT_FOUND', operation: 'retry', workflowId });
    return handle;
  }

  /** The registration of this process; throws NotRegisteredError when there is none. */
  static getInstance(): DeFlow {
    const current = DeFlow.#current;
    if (current === null || current.state === 'closing' || current.state === 'closed') throw new NotRegisteredError();
    return current;
  }

  /**
   * Cancels a workflow by id, in whatever process runs it: it becomes `cancelled`, nothing of
   * it is claimed again, running attempts see `task.signal` abort and their results are
   * refused, and `done()` rejects with a WorkflowCancelledError. Resolves false when it had
   * already finished (nothing changes); rejects with a NotFoundError for an unknown id.
   */
  static async cancel(workflowId: string, reason?: string): Promise<boolean> {
    const { backend } = await DeFlow.getInstance().services();
    return controlRun(backend, 'DeFlow.cancel()', workflowId, 'cancel', reason);
  }

  /** Pauses a workflow by id: nothing new is claimed, running attempts finish. False when it is not running. */
  static async pause(workflowId: string): Promise<boolean> {
    const { backend } = await DeFlow.getInstance().services();
    return controlRun(backend, 'DeFlow.pause()', workflowId, 'pause');
  }

  /** Resumes a paused workflow by id: its work is claimed again. False when it is not paused. */
  static async resume(workflowId: string): Promise<boolean> {
    const { backend } = await DeFlow.getInstance().services();
    return controlRun(backend, 'DeFlow.resume()', workflowId, 'resume');
  }

  /**
   * Starts the workflow a loaded definition (defineWorkflow) builds from `input`; resolves with
   * its handle once stored. With an `id`, the start is idempotent: when that workflow exists,
   * nothing is created and the handle follows it (`handle.created` is false).
   */
  static async start(name: string, input?: unknown, options: StartOptions = {}): Promise<WorkFlow> {
    if (typeof name !== 'string') throw new ValidationError(`DeFlow.start() needs a definition name, got ${describe(name)}`);
    return requireDefinition(name, 'DeFlow.start()').start(input, options);
  }

  /** The workflow definitions loaded in this process (defineWorkflow), by name. */
  static definitions(): DefinitionInfo[] {
    return listDefinitions();
  }

  /**
   * Sends an event to one workflow (no handle needed): steps waiting for it start. Resolves
   * true when it counted, false when the workflow finished or already has an event with this id.
   */
  static async signal(workflowId: string, name: string, data?: unknown, options?: EmitOptions): Promise<boolean> {
    const { backend, node } = await DeFlow.getInstance().services();
    return signalWorkflow(backend, workflowId, name, data, options, 'DeFlow.signal()', node);
  }

  /**
   * Sends a global event to every workflow that has not finished (`key`: only to those created
   * with that business key); resolves with how many received it.
   */
  static async emit(name: string, data?: unknown, options?: GlobalEmitOptions): Promise<number> {
    const { backend } = await DeFlow.getInstance().services();
    return emitGlobal(backend, name, data, options);
  }

  /**
   * Stores (creates or replaces) a schedule: each tick of `cron` starts the definition
   * `workflow` with `input`, once across every node (docs/concepts.md#schedules). Resolves true
   * when the schedule is new. The definition must be loaded in this process.
   */
  static async schedule(name: string, options: ScheduleOptions): Promise<boolean> {
    const deflow = DeFlow.getInstance();
    const created = await deflow.accept(({ backend }) => saveSchedule(backend, name, options));
    deflow.#scheduler?.poke();
    return created;
  }

  /** Removes a schedule (workflows it started are left alone); resolves false when there was none. */
  static async unschedule(name: string): Promise<boolean> {
    return DeFlow.getInstance().accept(({ backend }) => removeSchedule(backend, name));
  }

  /** Every stored schedule, by name, with its last and next tick. */
  static async schedules(): Promise<ScheduleInfo[]> {
    return DeFlow.getInstance().accept(({ backend }) => listSchedules(backend));
  }

  /** The registration of this process, or null. */
  static get current(): DeFlow | null {
    return DeFlow.#current;
  }

  /**
   * Sets (creates or changes) a rate limit in the backend, shared by every node: steps with
   * the option `rateLimit: name` start at most `max` tasks in any window of `per` milliseconds,
   * on the backend's clock. See docs/concepts.md#rate-limits.
   */
  static async setRateLimit(name: string, options: RateLimitOptions): Promise<void> {
    const limit = checkRateLimitOptions(name, options);
    await DeFlow.getInstance().accept(({ backend }) => backend.setRateLimit(limit));
  }

  /** Every rate limit set in the backend, by name (`per` in milliseconds). */
  static async rateLimits(): Promise<{ name: string; max: number; per: number }[]> {
    const limits = await DeFlow.getInstance().accept(({ backend }) => backend.rateLimits());
    return limits.map(({ name, max, perMs }) => ({ name, max, per: perMs }));
  }

  /** Removes a rate limit; resolves false when it was not set. Steps still naming it fail their tasks. */
  static async removeRateLimit(name: string): Promise<boolean> {
    const checked = checkRateLimitName(name, 'DeFlow.removeRateLimit name');
    return DeFlow.getInstance().accept(({ backend }) => backend.removeRateLimit(checked));
  }

  get state(): DeFlowState {
    return this.#state;
  }

  /** What `console.log(deflow)` shows: never the backend's password. */
  [inspect.custom](): string {
    return `DeFlow { state: '${this.#state}', backend: ${JSON.stringify(redactUrl(this.options.backend))} }`;
  }

  /** Resolves once the backend answers and the node runs; rejects with a clear error otherwise. */
  async ready(): Promise<this> {
    await this.#ready;
    return this;
  }

  /** @internal backend and node, once ready. */
  async services(): Promise<{ backend: Backend; node: WorkerNode }> {
    await this.#ready;
    if (this.#backend === null || this.#node === null || this.#state !== 'ready') {
      throw this.#failure ?? new NotRegisteredError('DeFlow was unregistered');
    }
    return { backend: this.#backend, node: this.#node };
  }

  /**
   * @internal Runs `work` with the backend even if unregister() is called meanwhile: close()
   * waits for it (run() returns at once, and a script may unregister right after it).
   */
  accept<T>(work: (services: { backend: Backend; node: WorkerNode }) => Promise<T>): Promise<T> {
    if (this.#state === 'closing' || this.#state === 'closed') return Promise.reject(new NotRegisteredError('DeFlow was unregistered'));
    const running = this.#ready.then(() => {
      if (this.#backend === null || this.#node === null || this.#state === 'failed') {
        throw this.#failure ?? new NotRegisteredError('DeFlow was unregistered');
      }
      return work({ backend: this.#backend, node: this.#node });
    });
    const tracked = running.catch(() => undefined);
    this.#accepted.add(tracked);
    void tracked.then(() => this.#accepted.delete(tracked));
    return running;
  }

  /** @internal */
  watch(watcher: RegistrationWatcher): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  async close(): Promise<void> {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#state = 'closing';
    if (DeFlow.#current === this) DeFlow.#current = null;
    if (DeFlow.#current === null) setMaxPayloadBytes(DEFAULT_MAX_PAYLOAD_BYTES);
    this.#stopWaiting?.();
    try {
      await this.#ready;
    } catch {
      // never connected: nothing to stop
    }
    // Workflows run() accepted are stored before we leave.
    while (this.#accepted.size > 0) await Promise.all([...this.#accepted]);
    await this.#scheduler?.stop();
    await this.#node?.stop();
    const ended = new DeflowError(
      'ERR_UNREGISTERED',
      'DeFlow was unregistered before this workflow finished; its state is kept in the backend: ' +
        'register again and use WorkFlow.getById(id) to follow it',
    );
    for (const watcher of [...this.#watchers]) watcher.registrationClosed(ended);
    this.#watchers.clear();
    await this.#backend?.close();
    this.#state = 'closed';
  }

  async #connect(): Promise<void> {
    try {
      const backend = await openBackend(this.#chosenBackend, {
        timeoutMs: this.options.startupTimeout,
        clock: systemClock,
        onRetry: (error) => this.#onStartupRetry(error),
        cancelled: () => this.#state !== 'connecting',
        onCancel: (wake) => {
          this.#stopWaiting = wake;
        },
      });
      this.#stopWaiting = null;
      if (this.#state !== 'connecting') {
        // unregister() was called while it waited: close what it just opened.
        await backend.close();
        throw new NotRegisteredError('DeFlow was unregistered while it waited for its backend');
      }
      this.#backend = backend;
      backend.onFatal?.((error) => this.#fatal(error));
      backend.onProblem?.((error, during) => this.#onProblem({ during, error }));
      const node = new WorkerNode(
        backend,
        views,
        {
          worker: this.options.worker,
          leaseMs: this.options.leaseMs,
          checkProcessQueueInterval: this.options.checkProcessQueueInterval,
          maxBatch: this.options.maxBatch,
          flushDelayMs: 5,
          discoverIntervalMs: 1000,
          drainTimeoutMs: this.options.drainTimeout,
          poolSize: this.options.poolSize,
          stepDirs: this.options.stepDirs,
          queues: this.options.queues,
          clock: systemClock,
        },
        (problem) => this.#onProblem(problem),
      );
      this.#node = node;
      await node.start();
      if (this.#state === 'connecting') this.#state = 'ready';
      // Nodes that run work also fire the ticks of the schedules whose definition they loaded.
      if (this.options.worker && this.#state === 'ready') {
        this.#scheduler = new Scheduler({
          backend,
          clock: systemClock,
          definition: findDefinition,
          problem: (error, during) => this.#onProblem({ during, error }),
        });
        this.#scheduler.start();
      }
    } catch (error) {
      this.#failure = redactError(error instanceof Error ? error : new Error(String(error)), this.#secrets);
      if (this.#state === 'connecting') this.#state = 'failed';
      throw this.#failure;
    }
  }

  /** The backend gave up for good (e.g. Redis after connection.maxAttempts): say it once, stop, reject waiters. */
  #fatal(error: Error): void {
    if (this.#state !== 'ready' && this.#state !== 'connecting') return;
    this.#state = 'failed';
    this.#failure = redactError(error, this.#secrets);
    this.#node?.halt(error);
    this.#onProblem({ during: 'backend', error });
    for (const watcher of [...this.#watchers]) watcher.registrationClosed(error);
    this.#watchers.clear();
  }

  /** Every retry is said once: to 'error' listeners (during 'connect'), else as a process warning. */
  #onStartupRetry(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error, 'connect');
    else process.emitWarning(error.message, { type: 'DeflowWarning', code: 'DEFLOW_BACKEND_UNAVAILABLE' });
  }

  #onProblem(problem: NodeProblem): void {
    const error = redactError(problem.error instanceof Error ? problem.error : new Error(String(problem.error)), this.#secrets);
    if (this.listenerCount('error') > 0) this.emit('error', error, problem.during);
    else this.#warn(problem.during, error);
  }

  /** Background failures nobody listens for still show, at most once per 30 s per kind. */
  #warn(during: string, error: Error): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', error, during);
      return;
    }
    const now = Date.now();
    if (now - (this.#lastWarning.get(during) ?? 0) < WARNING_INTERVAL_MS) return;
    this.#lastWarning.set(during, now);
    process.emitWarning(`${during}: ${error.message}`, { type: 'DeflowWarning', code: (error as { code?: string }).code ?? 'DEFLOW' });
  }
}
