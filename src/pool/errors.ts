/**
 * Errors a farm call can reject with. Each has a stable `code` for callers to branch on.
 * `TimeoutError` is the one shared with the engine (src/errors.ts), so a timed-out step
 * and a timed-out pool call are the same class.
 */
import { DeflowError, TimeoutError, ValidationError } from '../errors.js';

export { DeflowError, TimeoutError, ValidationError };

/** A call failed on a worker (crash or timeout) more times than `maxRetries` allowed. */
export class CallMaxRetryError extends DeflowError {
  /** The failure of the last attempt: a `TimeoutError` or a `WorkerTerminatedError`. */
  readonly reason: Error;
  /** How many times the call was sent to a worker. */
  readonly attempts: number;

  constructor(reason: Error, attempts: number) {
    super('ERR_POOL_CALL_MAX_RETRY', `call failed on ${attempts} attempts, the last one with: ${reason.message}`, {
      cause: reason,
    });
    this.reason = reason;
    this.attempts = attempts;
  }
}

/** The farm already holds `maxConcurrentCalls` calls (queued plus running); this one was refused. */
export class MaxConcurrentCallsError extends DeflowError {
  readonly limit: number;

  constructor(limit: number) {
    super(
      'ERR_POOL_MAX_CONCURRENT_CALLS',
      `the farm already holds maxConcurrentCalls (${limit}) calls; wait for some to finish or raise the limit`,
    );
    this.limit = limit;
  }
}

/** The worker running (or chosen for) the call went away, or the farm was killed. */
export class WorkerTerminatedError extends DeflowError {
  /** Id of the worker that exited; null when the call never reached one (farm killed while queued). */
  readonly workerId: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;

  constructor(message: string, details: { workerId?: number | null; exitCode?: number | null; signal?: string | null } = {}) {
    super('ERR_POOL_WORKER_TERMINATED', message);
    this.workerId = details.workerId ?? null;
    this.exitCode = details.exitCode ?? null;
    this.signal = details.signal ?? null;
  }
}

/** A worker could not load the farm's module or serializer, or exited before it was ready. */
export class ModuleLoadError extends DeflowError {
  /** URL of what failed to load: the farm's worker module, or its serializer. */
  readonly module: string;

  constructor(module: string, message: string, options?: { cause?: unknown }) {
    super('ERR_POOL_MODULE_LOAD', message, options);
    this.module = module;
  }
}

/** Call arguments or a result could not be encoded or decoded by the farm's serializer. */
export class CallSerializationError extends DeflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_POOL_SERIALIZATION', message, options);
  }
}
