/**
 * Wire format between a farm and its workers, shared by both sides. Messages are flat arrays
 * (no per-call objects) so a batch of N calls is one message of 1 + 3N slots:
 *
 *   farm → worker   [MSG_CALLS, id, method, payload, id, method, payload, ...] | [MSG_STOP]
 *   worker → farm   [MSG_READY] | [MSG_LOAD_ERROR, ErrorRecord, url of the module that failed]
 *                   [MSG_RESULTS, id, status, payload, ...] | [MSG_MEMORY, bytes]
 *
 * `payload` is what the serializer produced (see serializers.ts); error payloads are always
 * plain JSON-safe `ErrorRecord`s so every channel can carry them.
 */
import type { SerializerSpec } from './serializers.js';

export const MSG_CALLS = 0;
export const MSG_STOP = 1;

export const MSG_READY = 0;
export const MSG_LOAD_ERROR = 1;
export const MSG_RESULTS = 2;
export const MSG_MEMORY = 3;

export const RESULT_VALUE = 0;
/** The function returned `undefined`: sent without a payload, so JSON does not turn it into null. */
export const RESULT_UNDEFINED = 1;
export const RESULT_ERROR = 2;

/** Environment variable that carries `WorkerBootConfig` to a child process (threads use workerData). */
export const BOOT_ENV = 'DEFLOW_POOL_WORKER_CONFIG';

/** What a worker needs to start: everything else comes in messages. */
export interface WorkerBootConfig {
  workerId: number;
  type: 'process' | 'thread';
  /** file: URL of the user's module. */
  moduleUrl: string;
  serializer: SerializerSpec;
  /** Soft memory limit in bytes; null when the farm has none. */
  maxMemoryBytes: number | null;
}

export type WireMessage = unknown[];
