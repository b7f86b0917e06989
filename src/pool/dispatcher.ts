/**
 * Routes calls to workers: the farm's FIFO queue in front, the load buckets of ready workers
 * behind it, and the per-call timers. Every decision is O(1) per call: pick the least-loaded
 * ready worker, or queue. Retries and displaced calls go to the front of the queue.
 *
 * A call that times out or is aborted while running kills its worker (the only way to stop a
 * busy loop). The worker leaves the buckets before the call's retry is queued, so the retry can
 * never land on it; the worker's other calls are re-queued without using a retry.
 */
import type { Call } from './call.js';
import { CallQueue } from './call-queue.js';
import { CallSerializationError, TimeoutError, WorkerTerminatedError } from './errors.js';
import { LoadBuckets } from './load-buckets.js';
import { logFarm } from './log.js';
import type { ResolvedFarmOptions } from './options.js';
import type { PayloadCodec } from './serializers.js';
import type { FarmStopReason, PoolWorker } from './worker.js';

export interface DispatcherHooks {
  settle(call: Call<PoolWorker>, error: unknown, value?: unknown): void;
  /** A worker-side failure: the farm retries the call or gives up. */
  failAttempt(call: Call<PoolWorker>, error: Error): void;
  /** A worker received its ttl-th call. */
  ttlReached(worker: PoolWorker): void;
  /** Calls are waiting with no free slot: start a worker if the pool may grow. */
  needWorker(): void;
}

export class Dispatcher {
  /** Farm-side codec; null while a custom serializer module is loading (nothing is sent then). */
  codec: PayloadCodec | null = null;

  private readonly queue = new CallQueue<PoolWorker>();
  private readonly buckets: LoadBuckets<PoolWorker>;
  private readonly capacity: number;

  constructor(
    private readonly options: ResolvedFarmOptions,
    private readonly hooks: DispatcherHooks,
  ) {
    this.capacity = options.maxConcurrentCallsPerWorker;
    this.buckets = new LoadBuckets(this.capacity);
  }

  get queued(): number {
    return this.queue.size;
  }

  enqueue(call: Call<PoolWorker>): void {
    const pinned = call.pinned;
    if (pinned !== null) {
      if (pinned.state === 'starting' || pinned.state === 'ready') {
        pinned.pinned.push(call);
        this.servePinned(pinned);
      } else {
        this.hooks.settle(call, new WorkerTerminatedError(`worker ${pinned.id} stopped before the broadcast reached it`, { workerId: pinned.id }));
      }
      return;
    }
    if (this.queue.size === 0) {
      const worker = this.buckets.pick();
      if (worker !== null) {
        this.assign(call, worker);
        return;
      }
    }
    this.queue.push(call);
    this.hooks.needWorker();
  }

  /** A retry or a displaced call: first in line (a broadcast call: first in its worker's line). */
  requeue(call: Call<PoolWorker>): void {
    const pinned = call.pinned;
    if (pinned !== null) {
      pinned.pinned.unshift(call);
      this.servePinned(pinned);
      return;
    }
    this.queue.unshift(call);
    this.dispatch();
    if (this.queue.size > 0) this.hooks.needWorker();
  }

  /** A worker became ready: it takes its broadcast calls, then queued ones. */
  join(worker: PoolWorker): void {
    this.buckets.add(worker);
    this.servePinned(worker);
    this.dispatch();
    if (this.queue.size > 0) this.hooks.needWorker();
  }

  /** A worker stopped taking calls (draining, stopping, gone). */
  leave(worker: PoolWorker): void {
    this.buckets.remove(worker);
  }

  /** Detaches an answered (or abandoned) call from its worker. */
  release(worker: PoolWorker, call: Call<PoolWorker>): void {
    if (!worker.running.delete(call.id)) return;
    call.worker = null;
    worker.load--;
    this.buckets.decrement(worker);
  }

  /** After a batch of answers: stop a draining worker that is done, or give it more work. */
  slotsFreed(worker: PoolWorker): void {
    if (worker.running.size === 0) worker.idleSince = performance.now();
    if (worker.state === 'draining') {
      if (worker.running.size === 0) worker.stop(worker.stopReason ?? 'ttl');
    } else if (worker.state === 'ready') {
      this.servePinned(worker);
      this.dispatch();
    }
  }

  /** Takes a call back (abort): out of its queue, or off its worker, which is killed. */
  withdraw(call: Call<PoolWorker>, reason: FarmStopReason): void {
    if (call.queue !== null) {
      call.queue.remove(call);
      return;
    }
    const worker = call.worker;
    if (worker === null) return;
    this.release(worker, call);
    this.retire(worker, reason);
    this.dispatch();
  }

  /** The worker's channel refused this call's arguments: fail it alone. */
  notSent(worker: PoolWorker, call: Call<PoolWorker>, cause: unknown): void {
    if (call.worker !== worker) return;
    this.release(worker, call);
    clearTimeout(call.timer);
    this.hooks.settle(call, this.argumentsError(call, cause));
    this.slotsFreed(worker);
  }

  /** Detaches every running call of a worker that is gone, handing each to `fail`. */
  evict(worker: PoolWorker, fail: (call: Call<PoolWorker>) => void): void {
    for (const call of [...worker.running.values()]) {
      this.release(worker, call);
      clearTimeout(call.timer);
      call.timer = undefined;
      fail(call);
    }
  }

  /** Empties the queue, handing each call to `fail`. */
  failQueued(fail: (call: Call<PoolWorker>) => void): void {
    this.queue.drainTo(fail);
  }

  dispatch(): void {
    while (this.queue.size > 0) {
      const worker = this.buckets.pick();
      if (worker === null) return;
      this.assign(worker.pinned.shift() ?? (this.queue.shift() as Call<PoolWorker>), worker);
    }
  }

  private servePinned(worker: PoolWorker): void {
    while (worker.pinned.size > 0 && worker.inBuckets && worker.load < this.capacity) {
      this.assign(worker.pinned.shift() as Call<PoolWorker>, worker);
    }
  }

  private assign(call: Call<PoolWorker>, worker: PoolWorker): void {
    if (!call.encoded) {
      try {
        call.payload = (this.codec as PayloadCodec).encode(call.args);
        call.encoded = true;
      } catch (cause) {
        this.hooks.settle(call, this.argumentsError(call, cause));
        return;
      }
    }
    call.worker = worker;
    call.attempts++;
    worker.running.set(call.id, call);
    worker.load++;
    this.buckets.increment(worker);
    if (call.timeoutMs !== Infinity) call.timer = setTimeout(this.onTimeout, call.timeoutMs, call);
    worker.send(call);
    if (++worker.received >= this.options.ttl) this.hooks.ttlReached(worker);
  }

  private readonly onTimeout = (call: Call<PoolWorker>): void => {
    call.timer = undefined;
    const worker = call.worker;
    if (worker === null || call.settled) return;
    logFarm('call %d (%s) timed out after %d ms on worker %d: killing it', call.id, call.method, call.timeoutMs, worker.id);
    this.release(worker, call);
    this.retire(worker, 'timeout'); // out of the buckets before the retry is queued
    this.hooks.failAttempt(
      call,
      new TimeoutError(`call '${call.method}' did not finish within ${call.timeoutMs} ms; its worker ${worker.id} was killed`, call.timeoutMs),
    );
    this.dispatch();
  };

  /** Kills a worker whose other calls are innocent: they go back to the queue, retries intact. */
  private retire(worker: PoolWorker, reason: FarmStopReason): void {
    this.evict(worker, (call) => {
      if (call.pinned === null) this.queue.unshift(call);
      else this.hooks.settle(call, new WorkerTerminatedError(`worker ${worker.id} was killed (${reason}) while running the broadcast`, { workerId: worker.id }));
    });
    worker.kill(reason);
  }

  private argumentsError(call: Call<PoolWorker>, cause: unknown): CallSerializationError {
    const serializer = this.options.serializer.startsWith('file:') ? 'custom' : this.options.serializer;
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new CallSerializationError(`the arguments of '${call.method}' could not be serialized with the '${serializer}' serializer: ${reason}`, {
      cause,
    });
  }
}
