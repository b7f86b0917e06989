/**
 * The farm's handle on one worker. Lifecycle:
 *
 *   starting ──READY──▶ ready ──drain()──▶ draining ──last call done──▶ stopping ──exit──▶ exited
 *      │                  │                   │                           ▲
 *      └──────────────────┴───────────────────┴──── kill() / lost IPC ────┘
 *
 * - starting: spawned, loading the user's module; takes no calls (broadcast calls wait in `pinned`).
 *   Killed as a failure to start if it is not ready within startupTimeout.
 * - ready: takes calls, sits in the farm's load buckets.
 * - draining: takes no new calls (ttl reached, memory over the limit); stops once idle.
 * - stopping: asked to exit (STOP message or SIGTERM/terminate); SIGKILL after killTimeout.
 * - exited: gone; the farm decides from `stopReason` whether that was a crash.
 *
 * Outgoing calls are batched: everything dispatched to this worker in one tick leaves as one
 * message, flushed from a microtask.
 */
import { logWorker } from './log.js';
import { CallQueue } from './call-queue.js';
import type { Call } from './call.js';
import type { Bucketed } from './load-buckets.js';
import { openChannel, type WorkerChannel } from './channel.js';
import type { ResolvedFarmOptions } from './options.js';
import { MSG_CALLS, MSG_LOAD_ERROR, MSG_MEMORY, MSG_READY, MSG_RESULTS, MSG_STOP, type WireMessage } from './protocol.js';
import type { ErrorRecord } from './remote-error.js';

export type FarmWorkerState = 'starting' | 'ready' | 'draining' | 'stopping' | 'exited';

/** Why the farm stopped a worker; null while it runs. 'crash' means it went away on its own. */
export type FarmStopReason = 'ttl' | 'idle' | 'memory' | 'timeout' | 'abort' | 'start-failure' | 'farm-killed' | 'crash';

/** What event listeners see of a worker. */
export interface FarmWorkerInfo {
  readonly id: number;
  readonly type: 'process' | 'thread';
  /** Process id (type 'process'). */
  readonly pid: number | undefined;
  /** Thread id (type 'thread'). */
  readonly threadId: number | undefined;
  readonly state: FarmWorkerState;
  readonly stopReason: FarmStopReason | null;
  /** Calls running on it now. */
  readonly load: number;
  /** Calls it has received since it started (what `ttl` counts). */
  readonly received: number;
}

/** The farm, as seen by a worker. */
export interface WorkerOwner {
  workerStateChanged(worker: PoolWorker, from: FarmWorkerState): void;
  workerReady(worker: PoolWorker): void;
  workerResults(worker: PoolWorker, message: WireMessage): void;
  /** `url`: the module that failed, the user's module or the serializer. */
  workerLoadError(worker: PoolWorker, record: ErrorRecord, url: string): void;
  workerMemory(worker: PoolWorker, bytes: number): void;
  /** Still starting after startupTimeout. */
  workerStartTimedOut(worker: PoolWorker): void;
  workerIdle(worker: PoolWorker): void;
  /** A batch could not be sent; `error` is why this one call could not be serialized. */
  callNotSent(worker: PoolWorker, call: Call<PoolWorker>, error: unknown): void;
  workerExit(worker: PoolWorker, code: number | null, signal: string | null): void;
  workerEvent(event: 'error' | 'disconnect' | 'close', worker: PoolWorker, ...args: unknown[]): void;
}

export class PoolWorker implements Bucketed<PoolWorker>, FarmWorkerInfo {
  state: FarmWorkerState = 'starting';
  stopReason: FarmStopReason | null = null;
  /** Calls sent and not answered, by id. */
  readonly running = new Map<number, Call<PoolWorker>>();
  /** Broadcast calls waiting for this worker to be ready or to have a free slot. */
  readonly pinned = new CallQueue<PoolWorker>();
  received = 0;
  /** Whether it ever said READY: an exit before that is a failure to start, not a crash. */
  wasReady = false;
  /** A fatal error while starting (failed spawn, out of memory): the cause of its start failure. */
  startError: Error | null = null;
  /** When it said READY (performance.now()): a crash soon after is a failure to start. */
  readyAt = 0;
  /** When the worker last became idle (or started); drives maxIdleTime. */
  idleSince = 0;

  // LoadBuckets links; `load` mirrors running.size for the buckets' arithmetic.
  load = 0;
  bucketPrev: PoolWorker | null = null;
  bucketNext: PoolWorker | null = null;
  inBuckets = false;

  private readonly channel: WorkerChannel;
  private readonly outbox: unknown[] = [MSG_CALLS];
  private readonly outboxCalls: Call<PoolWorker>[] = [];
  private flushScheduled = false;
  private killTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private startTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: number,
    private readonly options: ResolvedFarmOptions,
    private readonly owner: WorkerOwner,
  ) {
    const maxMemoryBytes = Number.isFinite(options.maxMemoryMb) ? Math.round(options.maxMemoryMb * 1024 * 1024) : null;
    this.channel = openChannel(
      options,
      { workerId: id, type: options.type, moduleUrl: options.moduleUrl, serializer: options.serializer, maxMemoryBytes },
      {
        message: (message) => this.onMessage(message),
        exit: (code, signal) => this.onExit(code, signal),
        error: (error, fatal) => this.onError(error, fatal),
        disconnect: () => this.onDisconnect(),
        close: (code, signal) => owner.workerEvent('close', this, code, signal),
      },
    );
    logWorker('worker %d spawned (%s pid=%s thread=%s)', id, options.type, this.pid, this.threadId);
    // A module whose top-level await never settles would otherwise keep every caller waiting.
    if (options.startupTimeout !== Infinity) {
      this.startTimer = setTimeout(() => {
        if (this.state === 'starting') owner.workerStartTimedOut(this);
      }, options.startupTimeout).unref();
    }
  }

  get type(): 'process' | 'thread' {
    return this.options.type;
  }

  get pid(): number | undefined {
    return this.channel.pid;
  }

  get threadId(): number | undefined {
    return this.channel.threadId;
  }

  /** Queues a call for the next flush; the farm has already recorded it in `running`. */
  send(call: Call<PoolWorker>): void {
    this.outbox.push(call.id, call.method, call.payload);
    this.outboxCalls.push(call);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** No new calls; stop once the running ones are done. */
  drain(reason: FarmStopReason): void {
    if (this.state !== 'ready') return;
    this.stopReason = reason;
    this.setState('draining');
    if (this.running.size === 0) this.stop(reason);
  }

  /** Graceful stop: ask the worker to exit, SIGKILL after killTimeout. */
  stop(reason: FarmStopReason): void {
    if (this.state === 'stopping' || this.state === 'exited') return;
    this.stopReason ??= reason;
    this.setState('stopping');
    try {
      this.channel.send([MSG_STOP]);
    } catch {
      this.channel.terminate();
    }
    this.armKillTimer();
  }

  /** Forced stop for a worker that may be stuck in a call: SIGTERM / terminate() now, SIGKILL later. */
  kill(reason: FarmStopReason): void {
    if (this.state === 'exited') return;
    if (this.state !== 'stopping') {
      this.stopReason ??= reason;
      this.setState('stopping');
    }
    this.channel.terminate();
    this.armKillTimer();
  }

  setRef(ref: boolean): void {
    // A stopping worker stays referenced so `await farm.kill()` cannot be cut short by exit.
    this.channel.setRef(ref || this.state === 'stopping');
  }

  /** Checks idleness every maxIdleTime; re-arms for the remainder instead of resetting per call. */
  armIdleTimer(maxIdleTime: number): void {
    const check = (): void => {
      this.idleTimer = undefined;
      if (this.state !== 'ready') return;
      const idleFor = performance.now() - this.idleSince;
      if (this.running.size === 0 && this.pinned.size === 0 && idleFor >= maxIdleTime) {
        this.owner.workerIdle(this);
        return;
      }
      this.idleTimer = setTimeout(check, this.running.size === 0 ? maxIdleTime - idleFor : maxIdleTime).unref();
    };
    this.idleSince = performance.now();
    this.idleTimer = setTimeout(check, maxIdleTime).unref();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.outboxCalls.length === 0) return;
    const calls = this.outboxCalls.splice(0);
    try {
      this.channel.send(this.outbox);
    } catch {
      // One argument the channel cannot serialize must not sink the whole batch: resend one by one.
      for (const call of calls) {
        try {
          this.channel.send([MSG_CALLS, call.id, call.method, call.payload]);
        } catch (error) {
          this.owner.callNotSent(this, call, error);
        }
      }
    }
    this.outbox.length = 1;
  };

  private onMessage(message: WireMessage): void {
    switch (message[0]) {
      case MSG_RESULTS:
        this.owner.workerResults(this, message);
        break;
      case MSG_READY:
        if (this.state !== 'starting') return;
        clearTimeout(this.startTimer);
        this.wasReady = true;
        this.setState('ready');
        this.owner.workerReady(this);
        break;
      case MSG_LOAD_ERROR:
        clearTimeout(this.startTimer);
        this.owner.workerLoadError(this, message[1] as ErrorRecord, (message[2] as string | undefined) ?? this.options.moduleUrl);
        break;
      case MSG_MEMORY:
        this.owner.workerMemory(this, message[1] as number);
        break;
    }
  }

  /** While starting, a fatal error is why the start failed: the farm reports it as the cause. */
  private onError(error: Error, fatal: boolean): void {
    if (fatal && this.state === 'starting') this.startError ??= error;
    else this.owner.workerEvent('error', this, error);
  }

  /** A child process that closed its IPC channel can never answer: treat it as crashed. */
  private onDisconnect(): void {
    this.owner.workerEvent('disconnect', this);
    if (this.state !== 'stopping' && this.state !== 'exited') this.kill('crash');
  }

  private onExit(code: number | null, signal: string | null): void {
    clearTimeout(this.killTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.startTimer);
    logWorker('worker %d exited (code=%s signal=%s reason=%s)', this.id, code, signal, this.stopReason ?? 'crash');
    this.stopReason ??= 'crash';
    this.setState('exited');
    this.owner.workerExit(this, code, signal);
  }

  private armKillTimer(): void {
    if (this.killTimer !== undefined) return;
    this.channel.setRef(true);
    this.killTimer = setTimeout(() => {
      logWorker('worker %d still alive %d ms after stop: killing it', this.id, this.options.killTimeout);
      this.channel.forceKill();
    }, this.options.killTimeout);
  }

  private setState(state: FarmWorkerState): void {
    const from = this.state;
    if (from === state) return;
    this.state = state;
    this.owner.workerStateChanged(this, from);
  }
}
