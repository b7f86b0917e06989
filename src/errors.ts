import { types } from 'node:util';

/**
 * Errors shared by every layer. Each class carries a stable `code` so callers can
 * branch on it without parsing messages, and survives a trip through JSON
 * (see `serializeError` / `deserializeError`).
 */

export class DeflowError extends Error {
  /** Stable, machine-readable identifier of what went wrong. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad input to a public call: an unknown option, a negative timeout, non-JSON task data... */
export class ValidationError extends DeflowError {
  constructor(message: string) {
    super('ERR_VALIDATION', message);
  }
}

/** A task (or a worker-pool call) took longer than its timeout. */
export class TimeoutError extends DeflowError {
  readonly timeoutMs: number;

  constructor(message: string, timeoutMs: number) {
    super('ERR_TIMEOUT', message);
    this.timeoutMs = timeoutMs;
  }
}

/** A step module could not be loaded, or does not default-export a StepHandler. */
export class StepModuleError extends DeflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STEP_MODULE', message, options);
  }
}

/** The DAG given to `run()` is not valid: a cycle, an unknown dependency, a duplicate name. */
export class WorkflowDefinitionError extends DeflowError {
  constructor(message: string) {
    super('ERR_WORKFLOW_DEFINITION', message);
  }
}

/**
 * A start with the id of an existing workflow that is not the same workflow (another name or
 * business key): the id was reused. `existing` tells what holds it.
 */
export class WorkflowConflictError extends DeflowError {
  readonly existing: { id: string; name: string; key: string | null };

  constructor(message: string, existing: { id: string; name: string; key: string | null }) {
    super('ERR_WORKFLOW_CONFLICT', message);
    this.existing = existing;
  }
}

/** The backend could not be reached or answered with an error. */
export class BackendError extends DeflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_BACKEND', message, options);
  }
}

/**
 * The backend's server could not be reached, or is not ready yet (starting, restarting, its
 * connection dropped): trying again later may work, unlike a wrong password or a missing database.
 */
export class BackendUnavailableError extends BackendError {}

/** No node is registered in this process: call `DeFlow.register()` first. */
export class NotRegisteredError extends DeflowError {
  constructor(message = 'deflow is not registered in this process: call DeFlow.register() before using workflows') {
    super('ERR_NOT_REGISTERED', message);
  }
}

/** A job's lease was lost (its node was presumed dead), so its late result was refused. */
export class LeaseLostError extends DeflowError {
  constructor(message: string) {
    super('ERR_LEASE_LOST', message);
  }
}

/** A recovered job: the node that held it stopped heartbeating before it finished. */
export class NodeLostError extends DeflowError {
  constructor(message: string) {
    super('ERR_NODE_LOST', message);
  }
}

/** An error as stored in a backend and shown to users: plain JSON. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  /** Which lifecycle method raised it, when it was not the task handler itself. */
  hook?: string;
  [key: string]: unknown;
}

/**
 * Is `value` an Error, also one made in another realm (a `vm` context, a test sandbox), whose
 * Error class is not ours, so `instanceof Error` is false?
 */
export function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/** Turns anything thrown into a JSON-safe record, keeping the class name, message, stack and own properties. */
export function serializeError(thrown: unknown, hook?: string): SerializedError {
  const out: SerializedError = isError(thrown)
    ? { name: String(thrown.name), message: String(thrown.message) }
    : { name: 'Error', message: typeof thrown === 'string' ? thrown : safeString(thrown) };
  if (isError(thrown)) {
    if (typeof thrown.stack === 'string') out.stack = thrown.stack;
    for (const [key, value] of Object.entries(thrown)) {
      if (key === 'name' || key === 'message' || key === 'stack') continue;
      if (isJsonSafe(value)) out[key] = value;
    }
  }
  if (hook !== undefined) out.hook = hook;
  return out;
}

/** Rebuilds an Error from a serialized record; known deflow classes keep their `code`. */
export function deserializeError(record: SerializedError): Error {
  const error = new Error(record.message);
  Object.defineProperty(error, 'name', { value: record.name, enumerable: false, configurable: true, writable: true });
  if (record.stack !== undefined) error.stack = record.stack;
  for (const [key, value] of Object.entries(record)) {
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    (error as unknown as Record<string, unknown>)[key] = value;
  }
  return error;
}

function isJsonSafe(value: unknown): boolean {
  try {
    return JSON.stringify(value) !== undefined;
  } catch {
    return false;
  }
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A step no longer accepts what was asked: its tasks already ran, or it finished. */
export class StepClosedError extends DeflowError {
  constructor(message: string) {
    super('ERR_STEP_CLOSED', message);
  }
}

/** Code of a cancelled workflow's error, of done()'s rejection, and of its attempts' abort reason. */
export const WORKFLOW_CANCELLED = 'ERR_WORKFLOW_CANCELLED';

/** A workflow or step id that the backend does not know (never existed, or was removed). */
export class NotFoundError extends DeflowError {
  constructor(message: string) {
    super('ERR_NOT_FOUND', message);
  }
}

/** A retry the workflow's state does not allow: it still runs, nothing failed, or the step named did not fail. */
export class NotRetryableError extends DeflowError {
  constructor(message: string) {
    super('ERR_NOT_RETRYABLE', message);
  }
}

/**
 * Something read from the backend is not what deflow wrote there: unparsable JSON or a wrong
 * shape in a stored record, or a malformed event message. `field` names what was bad.
 */
export class CorruptRecordError extends DeflowError {
  constructor(message: string, fields: Record<string, string | number> = {}) {
    super('ERR_CORRUPT_RECORD', message);
    Object.assign(this, fields);
  }
}
