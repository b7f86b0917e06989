/**
 * A worker as Workestrator shows it: an EventEmitter that gets the farm's events about it,
 * without the worker argument (`worker.on('exit', (code, signal) => ...)`). Its fields read the
 * pool's own record of the worker, so they are always current.
 */
import { EventEmitter } from 'node:events';
import type { FarmWorkerInfo, FarmWorkerState } from '../pool/worker.js';

/** What `message` events carry: one answer of a worker, a result (`res`) or an error (`err`). */
export interface WorkestratorMessage {
  callId: number;
  workerId: number;
  res?: unknown;
  err?: Error;
}

export interface WorkestratorWorkerEvents {
  /** Spawned. */
  fork: [];
  /** Loaded the module; takes calls. */
  online: [];
  /** Answered a call. */
  message: [data: WorkestratorMessage];
  /** Failed to spawn, load, be signalled or be reached. Emitted only if listened to. */
  error: [error: Error];
  /** Closed its IPC channel (it is then killed and replaced). */
  disconnect: [];
  exit: [code: number | null, signal: string | null];
  /** Its stdio closed: its last event. */
  close: [code: number | null, signal: string | null];
  /** Received `ttl` calls: it finishes them, exits and is replaced. */
  ttl: [];
  /** Went `maxIdleTime` without a call: it is stopped and replaced. */
  idle: [];
  /** Used more than `maxMemoryMb`: it finishes its calls and is replaced. */
  memory: [bytes: number];
}

export class WorkestratorWorker extends EventEmitter<WorkestratorWorkerEvents> {
  /** @param info the pool's live record of the worker (events hand it over, not a copy) */
  constructor(private readonly info: FarmWorkerInfo) {
    super();
  }

  /** The farm's number for it, as in `message` data's `workerId`. */
  get id(): number {
    return this.info.id;
  }

  /** Its process id (process workers); undefined for threads or a process that failed to spawn. */
  get pid(): number | undefined {
    return this.info.pid;
  }

  /** Its thread id (thread workers). */
  get threadId(): number | undefined {
    return this.info.threadId;
  }

  get state(): FarmWorkerState {
    return this.info.state;
  }

  /** Calls running on it now. */
  get pendingCalls(): number {
    return this.info.load;
  }

  /** Whether it has exited. */
  get killed(): boolean {
    return this.info.state === 'exited';
  }
}
