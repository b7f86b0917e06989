/**
 * A Workestrator farm over deflow's pool: the calls are the pool's own, with the few behaviours
 * Workestrator documents and the pool does not have by default (a front end, see
 * src/pool/front-end.ts): thrown errors are retried, idle workers are replaced, the first
 * workers exist when create() returns. Events are re-emitted with Workestrator's arguments, on
 * the farm and on the worker they are about.
 */
import { EventEmitter } from 'node:events';
import { Farm, type ArgsOf, type FarmMethodName, type ResultOf } from '../pool/farm.js';
import type { FarmEvent } from '../pool/front-end.js';
import { emitSafely } from '../pool/safe-emit.js';
import type { FarmWorkerInfo } from '../pool/worker.js';
import { describeOptions, toFarmOptions, type ResolvedWorkestratorOptions, type WorkestratorOptions } from './options.js';
import { WorkestratorWorker, type WorkestratorMessage } from './worker.js';

export interface WorkestratorFarmEvents {
  /** A worker was spawned. */
  fork: [worker: WorkestratorWorker];
  /** A worker loaded the module and takes calls. */
  online: [worker: WorkestratorWorker];
  /** A worker answered a call. */
  message: [worker: WorkestratorWorker, data: WorkestratorMessage];
  /** A worker failed to spawn, load, be signalled or be reached (null: no worker involved). Emitted only if listened to. */
  error: [worker: WorkestratorWorker | null, error: Error];
  /** A child process closed its IPC channel; it is killed and replaced. */
  disconnect: [worker: WorkestratorWorker];
  exit: [worker: WorkestratorWorker, code: number | null, signal: string | null];
  /** A worker's stdio closed: its last event. */
  close: [worker: WorkestratorWorker, code: number | null, signal: string | null];
  /** A worker received `ttl` calls: it finishes them, exits and is replaced. */
  ttl: [worker: WorkestratorWorker];
  /** A worker went `maxIdleTime` without a call: it is stopped and replaced. */
  idle: [worker: WorkestratorWorker];
  /** A worker used more than `maxMemoryMb`: it finishes its calls and is replaced. */
  memory: [worker: WorkestratorWorker, bytes: number];
}

/** Farms made by create() whose workers have not all exited: what the module-level kill() waits for. */
const liveFarms = new Set<{ kill(): Promise<void> }>();

/** Kills every farm made by create(); resolves once all their workers have exited. */
export async function killAllWorkestratorFarms(): Promise<void> {
  await Promise.all([...liveFarms].map((farm) => farm.kill()));
}

export class WorkestratorFarm<M = unknown> extends EventEmitter<WorkestratorFarmEvents> {
  readonly options: ResolvedWorkestratorOptions;
  private readonly pool: Farm<M>;
  /** Workers by id, from their fork to their close. */
  private readonly byId = new Map<number, WorkestratorWorker>();
  /** Events of the constructor (the first forks), replayed on the next tick when listeners can exist. */
  private early: FarmEvent[] | null = [];
  private killing: Promise<void> | undefined;

  constructor(options: WorkestratorOptions) {
    super();
    this.pool = new Farm<M>(toFarmOptions(options), {
      retryThrownErrors: true,
      replaceIdleWorkers: true,
      startAtOnce: true,
      observe: (...event) => this.onPoolEvent(event),
      wantsMessages: () => this.wantsMessages(),
    });
    this.options = describeOptions(this.pool.options, options);
    liveFarms.add(this);
    process.nextTick(() => {
      const early = this.early ?? [];
      this.early = null;
      for (const event of early) this.forward(event);
    });
  }

  /** The workers not yet exited (starting ones included). */
  get workers(): WorkestratorWorker[] {
    return [...this.byId.values()].filter((worker) => !worker.killed);
  }

  /** Whether kill() was called. */
  get killed(): boolean {
    return this.killing !== undefined;
  }

  /** Runs the module's default export (`module.exports = function ...`). */
  run(...args: ArgsOf<M, 'default'>): Promise<ResultOf<M, 'default'>> {
    return this.pool.run(...args);
  }

  /** Runs a named export (`module.exports.name = function ...`). */
  runMethod<K extends FarmMethodName<M>>(method: K, ...args: ArgsOf<M, K>): Promise<ResultOf<M, K>> {
    return this.pool.runMethod(method, ...args);
  }

  /** Runs the default export once on every worker: `[successes, failures]`. */
  broadcast(...args: ArgsOf<M, 'default'>): Promise<[results: ResultOf<M, 'default'>[], errors: Error[]]> {
    return this.pool.broadcast(...args);
  }

  /** Runs a named export once on every worker: `[successes, failures]`. */
  broadcastMethod<K extends FarmMethodName<M>>(method: K, ...args: ArgsOf<M, K>): Promise<[results: ResultOf<M, K>[], errors: Error[]]> {
    return this.pool.broadcastMethod(method, ...args);
  }

  /**
   * Rejects every pending call (WorkerTerminatedError) and stops the workers; the promise
   * resolves once they have exited (awaiting it is optional). Safe to call more than once.
   */
  kill(): Promise<void> {
    this.killing ??= this.pool.kill().then(() => {
      liveFarms.delete(this);
    });
    return this.killing;
  }

  private wantsMessages(): boolean {
    if (this.listenerCount('message') > 0) return true;
    for (const worker of this.byId.values()) if (worker.listenerCount('message') > 0) return true;
    return false;
  }

  private onPoolEvent(event: FarmEvent): void {
    if (event[0] === 'fork') this.byId.set(event[1].id, new WorkestratorWorker(event[1]));
    if (this.early !== null) this.early.push(event);
    else this.forward(event);
  }

  /** Re-emits a pool event with Workestrator's arguments: on the farm, then on its worker. */
  private forward(event: FarmEvent): void {
    switch (event[0]) {
      case 'message': {
        const [, info, message] = event;
        const data: WorkestratorMessage = message.ok
          ? { callId: message.callId, res: message.value, workerId: message.workerId }
          : { callId: message.callId, err: message.error, workerId: message.workerId };
        this.emitBoth(info, 'message', [data]);
        break;
      }
      case 'error': {
        const [, error, info] = event;
        const worker = info === null ? null : (this.byId.get(info.id) ?? null);
        // Like the pool: an unobserved 'error' must not throw out of an EventEmitter.
        if (this.listenerCount('error') > 0) emitSafely(this, 'error', [worker, error]);
        if (worker !== null && worker.listenerCount('error') > 0) emitSafely(worker, 'error', [error]);
        break;
      }
      case 'exit':
      case 'close': {
        const [name, info, code, signal] = event;
        this.emitBoth(info, name, [code, signal]);
        if (name === 'close') this.byId.delete(info.id);
        break;
      }
      case 'memory':
        this.emitBoth(event[1], 'memory', [event[2]]);
        break;
      default:
        this.emitBoth(event[1], event[0], []);
    }
  }

  private emitBoth(info: FarmWorkerInfo, name: keyof WorkestratorFarmEvents, args: unknown[]): void {
    const worker = this.byId.get(info.id);
    if (worker === undefined) return;
    emitSafely(this, name, [worker, ...args]);
    emitSafely(worker, name, args);
  }
}
