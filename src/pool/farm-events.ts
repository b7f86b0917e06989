/** What a farm emits (its EventEmitter map), apart so the farm's parts can name it without importing the farm. */
import type { FarmWorkerInfo } from './worker.js';

/** What the farm's `message` event carries: one settled call. */
export interface FarmMessage {
  callId: number;
  workerId: number;
  ok: boolean;
  value?: unknown;
  error?: Error;
}

export interface FarmEvents {
  /** A worker was spawned. */
  fork: [worker: FarmWorkerInfo];
  /** A worker loaded the module and takes calls. */
  online: [worker: FarmWorkerInfo];
  /** A worker answered a call. Only computed when someone listens. */
  message: [worker: FarmWorkerInfo, message: FarmMessage];
  /** A child process closed its IPC channel (it is then killed and replaced). Process mode only. */
  disconnect: [worker: FarmWorkerInfo];
  /** A worker failed to spawn, load, be killed or be reached. Emitted only if someone listens. */
  error: [error: Error, worker: FarmWorkerInfo | null];
  /** A worker exited. */
  exit: [worker: FarmWorkerInfo, code: number | null, signal: string | null];
  /** A worker's stdio closed (threads: right after exit). The last event of a worker. */
  close: [worker: FarmWorkerInfo, code: number | null, signal: string | null];
  /** A worker received `ttl` calls and will be replaced. */
  ttl: [worker: FarmWorkerInfo];
  /** A worker stayed `maxIdleTime` without calls and is stopped. */
  idle: [worker: FarmWorkerInfo];
  /** A worker used more than `maxMemoryMb` and will be replaced. */
  memory: [worker: FarmWorkerInfo, bytes: number];
}
