/**
 * A farm: a fixed-size set of workers running the exports of one module, with a call queue in
 * front. This file holds the public API and the life of a call:
 *
 *   submit ─▶ queued ─▶ running on a worker ─▶ settled
 *                ▲            │ worker crashed or call timed out (retry left)
 *                └────────────┘
 *
 * Routing calls to workers lives in dispatcher.ts; starting, replacing and stopping workers in
 * supervisor.ts. Farm states: 'running' → 'killing' (kill() called, workers exiting) → 'killed'.
 */
import { EventEmitter } from 'node:events';
import { Call } from './call.js';
import { CallMaxRetryError, MaxConcurrentCallsError, ModuleLoadError, CallSerializationError, WorkerTerminatedError } from './errors.js';
import { logCall } from './log.js';
import { checkCallOptions, checkMethod, type CheckedCall } from './call-options.js';
import { resolveOptions, type FarmOptions } from './options.js';
import { RESULT_ERROR, RESULT_UNDEFINED, type WireMessage } from './protocol.js';
import { fromErrorRecord, type ErrorRecord } from './remote-error.js';
import { registerFarm, unregisterFarm } from './live-farms.js';
import type { Dispatcher } from './dispatcher.js';
import type { FarmEvent, FarmFrontEnd } from './front-end.js';
import { callSafely, emitSafely } from './safe-emit.js';
import { Supervisor } from './supervisor.js';
import type { FarmEvents } from './farm-events.js';
import type { FarmWorkerInfo, PoolWorker } from './worker.js';

export type FarmState = 'running' | 'killing' | 'killed';

export interface FarmCallOptions {
  /** Export to run: 'default' (the default) or a named export / method of the default export. */
  method?: string;
  args?: readonly unknown[];
  /** Aborting rejects the call with `signal.reason`; a running call's worker is killed and replaced. */
  signal?: AbortSignal;
  /** Overrides the farm's `timeout` for this call (ms). */
  timeout?: number;
}

type Callable = (...args: never[]) => unknown;
/** Exports of the worker module M that are functions. `unknown` (the default) allows any name. */
export type FarmMethodName<M> = unknown extends M ? string : { [K in keyof M & string]: M[K] extends Callable ? K : never }[keyof M & string];
type FunctionOf<M, K extends string> = unknown extends M
  ? (...args: unknown[]) => unknown
  : K extends keyof M
    ? M[K] extends Callable
      ? M[K]
      : never
    : never;
export type ArgsOf<M, K extends string> = Parameters<FunctionOf<M, K>>;
export type ResultOf<M, K extends string> = Awaited<ReturnType<FunctionOf<M, K>>>;

/**
 * @typeParam M the worker module's type (`typeof import('./worker.js')`) to type run/runMethod;
 * leave it out for untyped calls.
 */
export class Farm<M = unknown> extends EventEmitter<FarmEvents> {
  readonly options;
  private farmState: FarmState = 'running';
  private readonly supervisor: Supervisor;
  private readonly dispatcher: Dispatcher;
  private nextCallId = 1;
  /** Calls accepted and not settled: queued + running + waiting on a worker. */
  private outstanding = 0;
  private refed = false;
  private unrefScheduled = false;
  private killed: Promise<void> | undefined;

  /** @param frontEnd for front ends built on the pool (deflow/workestrator); leave it out. */
  constructor(
    options: FarmOptions,
    private readonly frontEnd: FarmFrontEnd = {},
  ) {
    super();
    this.options = resolveOptions(options);
    this.supervisor = new Supervisor(
      this.options,
      {
        emit: (event, ...args) => this.emitEvent(event, ...args),
        settle: (call, error, value) => this.settle(call, error, value),
        failAttempt: (call, error) => this.failAttempt(call, error),
        results: (worker, message) => this.onResults(worker, message),
      },
      frontEnd.replaceIdleWorkers === true,
    );
    this.dispatcher = this.supervisor.dispatcher;
    registerFarm(this);
    if (frontEnd.startAtOnce === true) this.supervisor.start();
  }

  get state(): FarmState {
    return this.farmState;
  }

  /** A snapshot of the workers (not yet exited). */
  get workers(): FarmWorkerInfo[] {
    return this.supervisor.snapshot();
  }

  /** Calls accepted and not yet settled. */
  get pendingCalls(): number {
    return this.outstanding;
  }

  /** Runs the module's default export. */
  run(...args: ArgsOf<M, 'default'>): Promise<ResultOf<M, 'default'>> {
    return this.submit('default', args, undefined, undefined, null) as Promise<ResultOf<M, 'default'>>;
  }

  /** Runs a named export (or a method of the default export). */
  runMethod<K extends FarmMethodName<M>>(method: K, ...args: ArgsOf<M, K>): Promise<ResultOf<M, K>> {
    try {
      checkMethod(method);
    } catch (error) {
      return rejected(error);
    }
    return this.submit(method, args, undefined, undefined, null) as Promise<ResultOf<M, K>>;
  }

  /** The general form of run/runMethod, with a per-call AbortSignal and timeout. */
  call(options: FarmCallOptions): Promise<unknown> {
    let checked: CheckedCall;
    try {
      checked = checkCallOptions(options);
    } catch (error) {
      return rejected(error);
    }
    return this.submit(checked.method, checked.args, checked.signal, checked.timeout, null);
  }

  /** Runs the default export once on every live worker: [results, errors]. */
  broadcast(...args: ArgsOf<M, 'default'>): Promise<[results: ResultOf<M, 'default'>[], errors: Error[]]> {
    return this.broadcastMethod('default' as FarmMethodName<M>, ...(args as ArgsOf<M, FarmMethodName<M>>)) as Promise<
      [ResultOf<M, 'default'>[], Error[]]
    >;
  }

  /**
   * Runs a method once on every worker alive now (starting or ready). A broadcast call stays on
   * its worker: if that worker dies, the call fails (it is not retried elsewhere).
   */
  async broadcastMethod<K extends FarmMethodName<M>>(method: K, ...args: ArgsOf<M, K>): Promise<[results: ResultOf<M, K>[], errors: Error[]]> {
    checkMethod(method);
    const targets = this.farmState === 'running' ? this.supervisor.broadcastTargets() : [];
    const settled = await Promise.allSettled(targets.map((worker) => this.submit(method, args, undefined, undefined, worker)));
    const results: ResultOf<M, K>[] = [];
    const errors: Error[] = [];
    for (const outcome of settled) {
      if (outcome.status === 'fulfilled') results.push(outcome.value as ResultOf<M, K>);
      else errors.push(outcome.reason as Error);
    }
    return [results, errors];
  }

  /**
   * Rejects every pending call with WorkerTerminatedError, stops every worker (SIGKILL after
   * killTimeout) and resolves once all have exited. Safe to call more than once.
   */
  kill(): Promise<void> {
    this.killed ??= this.doKill();
    return this.killed;
  }

  private async doKill(): Promise<void> {
    this.farmState = 'killing';
    unregisterFarm(this);
    const exited = this.supervisor.killAll((call, worker) =>
      this.settle(call, new WorkerTerminatedError(`the farm was killed before call '${call.method}' finished`, { workerId: worker?.id ?? null })),
    );
    await exited;
    this.farmState = 'killed';
  }

  private submit(method: string, args: unknown[], signal: AbortSignal | undefined, timeout: number | undefined, pinned: PoolWorker | null): Promise<unknown> {
    if (this.farmState !== 'running') {
      return Promise.reject(new WorkerTerminatedError(`the farm was killed; create a new farm to run '${method}'`));
    }
    if (this.outstanding >= this.options.maxConcurrentCalls) return Promise.reject(new MaxConcurrentCallsError(this.options.maxConcurrentCalls));
    // Like fetch(): an aborted call rejects with whatever the signal was aborted with.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const failure = this.supervisor.loadFailure;
    if (failure !== null && pinned === null) {
      return Promise.reject(new ModuleLoadError(failure.module, failure.message, { cause: failure.cause }));
    }
    return new Promise((resolve, reject) => {
      const call = new Call(this.nextCallId++, method, args, timeout ?? this.options.timeout, signal, pinned, resolve, reject);
      // Listen before counting: should the signal throw, nothing is left half-registered.
      if (signal !== undefined) {
        call.onAbort = () => this.abort(call);
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      if (++this.outstanding === 1 && !this.refed) this.setRef(true);
      this.dispatcher.enqueue(call);
    });
  }

  private onResults(worker: PoolWorker, message: WireMessage): void {
    const codec = this.dispatcher.codec;
    const listening = this.listenerCount('message') > 0 || this.frontEnd.wantsMessages?.() === true;
    for (let i = 1; i < message.length; i += 3) {
      const call = worker.running.get(message[i] as number);
      if (call === undefined) continue; // timed out or aborted meanwhile: its answer is moot
      this.dispatcher.release(worker, call);
      const status = message[i + 1];
      let error: Error | undefined;
      let value: unknown;
      if (status === RESULT_ERROR) error = fromErrorRecord(message[i + 2] as ErrorRecord);
      else if (status !== RESULT_UNDEFINED) {
        try {
          value = codec?.decode(message[i + 2]);
        } catch (cause) {
          error = new CallSerializationError(`the result of '${call.method}' could not be decoded: ${describe(cause)}`, { cause });
        }
      }
      if (listening) this.emitEvent('message', worker, { callId: call.id, workerId: worker.id, ok: error === undefined, value, error });
      if (error !== undefined && this.frontEnd.retryThrownErrors === true) this.failAttempt(call, error, true);
      else this.settle(call, error, value);
    }
    this.dispatcher.slotsFreed(worker);
  }

  /**
   * A worker-side failure (crash, timeout): retry on another worker or give up. `thrown`: the
   * function itself failed (retried only for a front end that asks so), and a broadcast call
   * may then run again on its own worker, if that one still serves.
   */
  private failAttempt(call: Call<PoolWorker>, error: Error, thrown = false): void {
    if (call.settled) return;
    const movable = call.pinned === null || (thrown && (call.pinned.state === 'ready' || call.pinned.state === 'starting'));
    if (movable && call.retries < this.options.maxRetries && this.farmState === 'running') {
      call.retries++;
      logCall('call %d (%s) retry %d after: %s', call.id, call.method, call.retries, error.message);
      this.dispatcher.requeue(call);
      return;
    }
    this.settle(call, call.retries > 0 ? new CallMaxRetryError(error, call.attempts) : error);
  }

  private abort(call: Call<PoolWorker>): void {
    if (call.settled) return;
    this.dispatcher.withdraw(call, 'abort');
    this.settle(call, call.signal?.reason ?? new Error('call aborted'));
  }

  /** The one place a call ends: clears its timer and abort listener, then resolves or rejects. */
  private settle(call: Call<PoolWorker>, error: unknown, value?: unknown): void {
    if (call.settled) return;
    call.settled = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
    if (call.onAbort !== undefined) call.signal?.removeEventListener('abort', call.onAbort);
    if (error === undefined) call.resolve(value);
    else call.reject(error);
    if (--this.outstanding === 0) this.scheduleUnref();
  }

  /**
   * Workers keep the process alive only while calls are pending, so a script that forgets
   * kill() still exits. Unref is deferred one turn so back-to-back calls do not toggle it.
   */
  private scheduleUnref(): void {
    if (this.unrefScheduled) return;
    this.unrefScheduled = true;
    setImmediate(() => {
      this.unrefScheduled = false;
      if (this.outstanding === 0 && this.refed) this.setRef(false);
    }).unref();
  }

  private setRef(ref: boolean): void {
    this.refed = ref;
    this.supervisor.setRef(ref);
  }

  /** Every event goes out here; a listener that throws cannot leave the farm half-updated (safe-emit.ts). */
  private emitEvent<E extends keyof FarmEvents>(event: E, ...args: FarmEvents[E]): void {
    if (this.frontEnd.observe !== undefined) callSafely(() => this.frontEnd.observe?.(...([event, ...args] as unknown as FarmEvent)));
    if (event === 'error' && this.listenerCount('error') === 0) return;
    emitSafely(this, event, args);
  }
}

/** Creates a farm and starts its workers. */
export function createFarm<M = unknown>(options: FarmOptions): Farm<M> {
  return new Farm<M>(options);
}

/** A synchronous validation failure, as the rejected promise callers expect. */
function rejected(error: unknown): Promise<never> {
  return Promise.reject(error instanceof Error ? error : new Error(String(error)));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
