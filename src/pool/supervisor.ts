/**
 * Keeps a farm's workers: spawns `numberOfWorkers`, replaces the ones that go, and decides
 * what each exit means. Calls are routed by the Dispatcher; this file only moves workers in
 * and out of it.
 *
 * - A crash after start fails the attempt of each running call (the farm retries it on
 *   another worker) and the worker is replaced at once, unless it came within EARLY_CRASH_MS
 *   of READY: a module that crashes right after loading would respawn in a tight loop, so
 *   that counts toward the start backoff (and is an 'error' event). So are workers recycled for ttl or
 *   memory (their replacement starts while they drain) and workers killed for a timeout.
 * - A failure to start (LOAD_ERROR, exit before READY, or no READY within startupTimeout, when
 *   the worker is killed) is a ModuleLoadError: broadcast calls
 *   waiting for that worker fail, and if no worker is ready the queued calls fail too, as do
 *   new calls until a worker starts, so nothing waits on a module that cannot load. Respawns
 *   then back off exponentially (100 ms doubling to 30 s), until a worker has stayed up for
 *   EARLY_CRASH_MS.
 * - Workers stopped for idleness are not replaced (unless the front end asks, see
 *   front-end.ts); queued calls start workers on demand.
 */
import type { Call } from './call.js';
import { Dispatcher } from './dispatcher.js';
import { ModuleLoadError, WorkerTerminatedError } from './errors.js';
import type { FarmEvents } from './farm-events.js';
import { logFarm } from './log.js';
import type { ResolvedFarmOptions } from './options.js';
import type { WireMessage } from './protocol.js';
import { fromErrorRecord, type ErrorRecord } from './remote-error.js';
import { builtinCodec, loadCustomCodec, type PayloadCodec } from './serializers.js';
import { importInFarm } from './typescript.js';
import { PoolWorker, type FarmWorkerInfo, type FarmWorkerState, type WorkerOwner } from './worker.js';

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 30_000;
/** A worker that crashes sooner than this after READY counts as failing to start. */
const EARLY_CRASH_MS = 1000;

/** What the supervisor needs from the farm. */
export interface SupervisorHooks {
  emit<E extends keyof FarmEvents>(event: E, ...args: FarmEvents[E]): void;
  settle(call: Call<PoolWorker>, error: unknown, value?: unknown): void;
  failAttempt(call: Call<PoolWorker>, error: Error): void;
  results(worker: PoolWorker, message: WireMessage): void;
}

export class Supervisor implements WorkerOwner {
  readonly dispatcher: Dispatcher;
  /** Set while no worker could start: calls fail fast with it. */
  loadFailure: ModuleLoadError | null = null;

  private readonly workers = new Set<PoolWorker>();
  private nextWorkerId = 1;
  private starting = 0;
  /** Workers starting or ready: the ones that count toward numberOfWorkers. */
  private live = 0;
  /** Start failures and early crashes since a worker last stayed up: drives the backoff. */
  private failures = 0;
  /** Workers that crashed early, by how long after READY: reported when they exit. */
  private readonly earlyCrashes = new Map<PoolWorker, number>();
  private respawnTimer: NodeJS.Timeout | undefined;
  private codecFailed = false;
  private killing = false;
  private refed = false;
  private readonly exitWaiters: (() => void)[] = [];

  constructor(
    private readonly options: ResolvedFarmOptions,
    private readonly hooks: SupervisorHooks,
    /** Replace workers stopped for idleness at once (deflow/workestrator's rule). */
    private readonly replaceIdle = false,
  ) {
    this.dispatcher = new Dispatcher(options, {
      settle: (call, error, value) => hooks.settle(call, error, value),
      failAttempt: (call, error) => hooks.failAttempt(call, error),
      ttlReached: (worker) => {
        worker.drain('ttl');
        hooks.emit('ttl', worker);
      },
      needWorker: () => this.spawnOnDemand(),
    });
    this.dispatcher.codec = builtinCodec(options.serializer, options.type);
    if (this.dispatcher.codec === null) this.loadCodec();
    // Next tick, so listeners attached right after createFarm() see the first 'fork' events.
    process.nextTick(() => this.spawnMissing());
  }

  /** Spawns the missing workers now rather than on the next tick. */
  start(): void {
    this.spawnMissing();
  }

  snapshot(): FarmWorkerInfo[] {
    return [...this.workers].map(({ id, type, pid, threadId, state, stopReason, load, received }) => ({
      id, type, pid, threadId, state, stopReason, load, received,
    }));
  }

  broadcastTargets(): PoolWorker[] {
    this.spawnMissing();
    return [...this.workers].filter((worker) => worker.state === 'starting' || worker.state === 'ready');
  }

  setRef(ref: boolean): void {
    this.refed = ref;
    for (const worker of this.workers) worker.setRef(ref);
    if (ref) this.respawnTimer?.ref();
    else this.respawnTimer?.unref();
  }

  /** Fails every call through `reject`, kills every worker; resolves when all have exited. */
  killAll(reject: (call: Call<PoolWorker>, worker: PoolWorker | null) => void): Promise<void> {
    this.killing = true;
    clearTimeout(this.respawnTimer);
    this.dispatcher.failQueued((call) => reject(call, null));
    for (const worker of this.workers) {
      this.dispatcher.evict(worker, (call) => reject(call, worker));
      worker.pinned.drainTo((call) => reject(call, worker));
      worker.kill('farm-killed');
    }
    logFarm('farm of %s killed, waiting for %d workers to exit', this.options.moduleUrl, this.workers.size);
    return new Promise((resolve) => {
      if (this.workers.size === 0) resolve();
      else this.exitWaiters.push(resolve);
    });
  }

  // ── spawning ────────────────────────────────────────────────────────────────────────────

  private spawnMissing(): void {
    while (this.live < this.options.numberOfWorkers && this.canSpawn()) this.spawn();
  }

  /** Calls are waiting and nobody is starting: one more worker, up to numberOfWorkers. */
  private spawnOnDemand(): void {
    if (this.starting === 0 && this.live < this.options.numberOfWorkers && this.canSpawn()) this.spawn();
  }

  private canSpawn(): boolean {
    return !this.killing && !this.codecFailed && this.respawnTimer === undefined;
  }

  private spawn(): void {
    let worker: PoolWorker;
    try {
      worker = new PoolWorker(this.nextWorkerId++, this.options, this);
    } catch (cause) {
      // fork()/new Worker() refused the options (bad cwd, stdio without ipc, resourceLimits...).
      this.startFailed(null, new ModuleLoadError(this.options.moduleUrl, `could not start a worker: ${message(cause)}`, { cause }));
      return;
    }
    this.workers.add(worker);
    this.starting++;
    this.live++;
    worker.setRef(this.refed);
    this.hooks.emit('fork', worker);
  }

  // ── what workers report (WorkerOwner) ───────────────────────────────────────────────────

  workerStateChanged(worker: PoolWorker, from: FarmWorkerState): void {
    if (from === 'starting') this.starting--;
    if (from === 'ready') this.dispatcher.leave(worker);
    if ((from === 'starting' || from === 'ready') && worker.state !== 'ready') {
      this.live--;
      const reason = worker.stopReason;
      // Broadcast calls of a worker that never started fail in startFailed(), with the load error.
      if (from === 'ready' && worker.pinned.size > 0) {
        const error = terminated(worker, `stopped (${reason ?? 'crash'}) before running the broadcast`);
        worker.pinned.drainTo((call) => this.hooks.settle(call, error));
      }
      // A worker that was serving is replaced at once; start failures and early crashes wait
      // for the backoff timer.
      if (from === 'ready' && reason !== 'farm-killed' && (reason !== 'idle' || this.replaceIdle)) {
        const upFor = performance.now() - worker.readyAt;
        if (reason === 'crash' && upFor < EARLY_CRASH_MS) {
          this.earlyCrashes.set(worker, Math.round(upFor));
          this.backOff();
        } else {
          this.spawnMissing();
        }
      }
    }
  }

  workerReady(worker: PoolWorker): void {
    if (this.dispatcher.codec === null) return; // codecLoaded() brings it in
    if (!this.codecFailed) this.loadFailure = null;
    worker.readyAt = worker.idleSince = performance.now();
    setTimeout(() => {
      if (worker.state === 'ready' || worker.state === 'draining') this.failures = 0;
    }, EARLY_CRASH_MS).unref();
    if (this.options.maxIdleTime !== Infinity) worker.armIdleTimer(this.options.maxIdleTime);
    logFarm('worker %d online', worker.id);
    this.hooks.emit('online', worker);
    this.dispatcher.join(worker);
  }

  workerResults(worker: PoolWorker, message: WireMessage): void {
    this.hooks.results(worker, message);
  }

  workerLoadError(worker: PoolWorker, record: ErrorRecord, url: string): void {
    const cause = fromErrorRecord(record);
    const what = url === this.options.serializer ? `serializer ${url}` : url;
    worker.kill('start-failure');
    this.startFailed(worker, new ModuleLoadError(url, `worker ${worker.id} could not load ${what}: ${cause.message}`, { cause }));
  }

  workerStartTimedOut(worker: PoolWorker): void {
    const { moduleUrl, startupTimeout } = this.options;
    logFarm('worker %d still loading after %d ms: killing it', worker.id, startupTimeout);
    worker.kill('start-failure');
    this.startFailed(
      worker,
      new ModuleLoadError(moduleUrl, `worker ${worker.id} did not finish loading ${moduleUrl} within ${startupTimeout} ms (options.startupTimeout); it was killed`),
    );
  }

  workerMemory(worker: PoolWorker, bytes: number): void {
    logFarm('worker %d uses %d bytes, over maxMemoryMb=%d: replacing it', worker.id, bytes, this.options.maxMemoryMb);
    this.hooks.emit('memory', worker, bytes);
    worker.drain('memory');
  }

  workerIdle(worker: PoolWorker): void {
    logFarm('worker %d idle for %d ms: stopping it', worker.id, this.options.maxIdleTime);
    this.hooks.emit('idle', worker);
    worker.stop('idle');
  }

  callNotSent(worker: PoolWorker, call: Call<PoolWorker>, cause: unknown): void {
    this.dispatcher.notSent(worker, call, cause);
  }

  workerExit(worker: PoolWorker, code: number | null, signal: string | null): void {
    this.workers.delete(worker);
    if (!worker.wasReady && worker.stopReason === 'crash' && !this.killing) {
      this.startFailed(worker, this.exitedBeforeReady(worker, code, signal));
    } else if (worker.stopReason === 'crash') {
      const error = terminated(worker, `exited unexpectedly (code ${code}, signal ${signal})`, code, signal);
      this.dispatcher.evict(worker, (call) => (call.pinned !== null ? this.hooks.settle(call, error) : this.hooks.failAttempt(call, error)));
      const upFor = this.earlyCrashes.get(worker);
      if (upFor !== undefined) {
        this.earlyCrashes.delete(worker);
        const what = `exited (code ${code}, signal ${signal}) ${upFor} ms after it started; workers that crash this early are restarted with a growing delay`;
        this.hooks.emit('error', terminated(worker, what, code, signal), worker);
      }
    }
    this.hooks.emit('exit', worker, code, signal);
    if (this.killing && this.workers.size === 0) this.exitWaiters.splice(0).forEach((resolve) => resolve());
    this.dispatcher.dispatch();
  }

  workerEvent(event: 'error' | 'disconnect' | 'close', worker: PoolWorker, ...args: unknown[]): void {
    if (event === 'error') {
      logFarm('worker %d error: %s', worker.id, message(args[0]));
      this.hooks.emit('error', args[0] instanceof Error ? args[0] : new Error(String(args[0])), worker);
    } else if (event === 'disconnect') {
      this.hooks.emit('disconnect', worker);
    } else {
      this.hooks.emit('close', worker, args[0] as number | null, args[1] as string | null);
    }
  }

  // ── failures to start ───────────────────────────────────────────────────────────────────

  private exitedBeforeReady(worker: PoolWorker, code: number | null, signal: string | null): ModuleLoadError {
    const module = this.options.moduleUrl;
    const cause = worker.startError;
    if (cause === null) return new ModuleLoadError(module, `worker ${worker.id} exited (code ${code}, signal ${signal}) before it loaded ${module}`);
    if (worker.type === 'process' && worker.pid === undefined) {
      const errno = (cause as NodeJS.ErrnoException).code;
      const hint = errno === 'ENOENT' || errno === 'EACCES' ? '; check that fork.cwd and fork.execPath exist' : '';
      return new ModuleLoadError(module, `worker ${worker.id} could not be spawned: ${cause.message}${hint}`, { cause });
    }
    return new ModuleLoadError(module, `worker ${worker.id} failed before it loaded ${module}: ${cause.message}`, { cause });
  }

  private startFailed(worker: PoolWorker | null, error: ModuleLoadError): void {
    logFarm('start failure: %s', error.message);
    this.hooks.emit('error', error, worker);
    if (worker !== null) worker.pinned.drainTo((call) => this.hooks.settle(call, error));
    if (this.live - this.starting === 0) {
      this.loadFailure = error;
      this.dispatcher.failQueued((call) => this.hooks.settle(call, copyLoadError(error)));
    }
    this.backOff();
  }

  /** One more failure in a row: the next spawn waits 100 ms, doubling up to 30 s. */
  private backOff(): void {
    this.failures++;
    if (this.killing || this.codecFailed || this.respawnTimer !== undefined) return;
    const delay = Math.min(BACKOFF_BASE_MS * 2 ** (this.failures - 1), BACKOFF_MAX_MS);
    logFarm('failure #%d in a row: next worker in %d ms', this.failures, delay);
    this.respawnTimer = setTimeout(() => {
      this.respawnTimer = undefined;
      this.spawnMissing();
    }, delay);
    // Like the workers: it keeps the process alive only while calls wait for it.
    if (!this.refed) this.respawnTimer.unref();
  }

  /** The farm's side of a custom serializer, bounded by startupTimeout like a worker's start. */
  private loadCodec(): void {
    const { serializer, startupTimeout } = this.options;
    let settled = false;
    const timer =
      startupTimeout === Infinity
        ? undefined
        : setTimeout(() => {
            settled = true;
            this.codecFailedToLoad(new Error(`it did not finish loading within ${startupTimeout} ms (options.startupTimeout)`));
          }, startupTimeout).unref();
    loadCustomCodec(serializer, importInFarm).then(
      (codec) => {
        if (settled) return;
        clearTimeout(timer);
        this.codecLoaded(codec);
      },
      (error: unknown) => {
        if (settled) return;
        clearTimeout(timer);
        this.codecFailedToLoad(error);
      },
    );
  }

  private codecLoaded(codec: PayloadCodec): void {
    this.dispatcher.codec = codec;
    for (const worker of this.workers) if (worker.state === 'ready' && !worker.inBuckets) this.workerReady(worker);
  }

  /** The farm side cannot encode anything: the farm is unusable, say so to every call. */
  private codecFailedToLoad(cause: unknown): void {
    this.codecFailed = true;
    const error = new ModuleLoadError(this.options.serializer, `could not load serializer ${this.options.serializer}: ${message(cause)}`, { cause });
    this.loadFailure = error;
    this.hooks.emit('error', error, null);
    this.dispatcher.failQueued((call) => this.hooks.settle(call, copyLoadError(error)));
    for (const worker of this.workers) {
      worker.pinned.drainTo((call) => this.hooks.settle(call, copyLoadError(error)));
      worker.kill('start-failure');
    }
  }
}

function terminated(worker: PoolWorker, what: string, code: number | null = null, signal: string | null = null): WorkerTerminatedError {
  return new WorkerTerminatedError(`worker ${worker.id} ${what}`, { workerId: worker.id, exitCode: code, signal });
}

/** Each rejected call gets its own error object (shared instances would share mutations). */
function copyLoadError(error: ModuleLoadError): ModuleLoadError {
  return new ModuleLoadError(error.module, error.message, { cause: error.cause });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
