/**
 * Carries errors thrown in a worker back to the caller: class name, message, stack, `cause`,
 * an AggregateError's `errors`, and own properties (those JSON can carry). Records are plain objects on purpose, so they
 * cross every channel (JSON IPC, V8 IPC, structured clone) whatever the farm's serializer.
 */
import { types } from 'node:util';

export interface ErrorRecord {
  name: string;
  message: string;
  stack?: string;
  /** Own enumerable properties other than name, message and stack (e.g. `code`, `errno`). */
  props?: Record<string, unknown>;
  cause?: ErrorRecord;
  /** The `errors` of an AggregateError. */
  errors?: ErrorRecord[];
}

/** How deep causes and aggregated errors are followed, and how many aggregated errors are kept. */
const MAX_CAUSE_DEPTH = 4;
const MAX_AGGREGATED = 100;

const BUILTIN_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

export function toErrorRecord(thrown: unknown, depth = 0): ErrorRecord {
  // isNativeError: an Error made in another realm (a vm context) is not `instanceof Error` here.
  if (!(thrown instanceof Error || types.isNativeError(thrown))) {
    const record: ErrorRecord = { name: 'Error', message: describeThrown(thrown) };
    if (thrown !== null && typeof thrown === 'object') addProps(record, thrown as Record<string, unknown>);
    return record;
  }
  const record: ErrorRecord = { name: className(thrown), message: String(thrown.message) };
  if (typeof thrown.stack === 'string') record.stack = thrown.stack;
  addProps(record, thrown as unknown as Record<string, unknown>);
  if (thrown.cause !== undefined && depth < MAX_CAUSE_DEPTH) record.cause = toErrorRecord(thrown.cause, depth + 1);
  const errors = (thrown as { errors?: unknown }).errors;
  if ((thrown instanceof AggregateError || record.name === 'AggregateError') && Array.isArray(errors) && depth < MAX_CAUSE_DEPTH) {
    record.errors = (errors as unknown[]).slice(0, MAX_AGGREGATED).map((inner) => toErrorRecord(inner, depth + 1));
  }
  return record;
}

/** Rebuilds an Error on the farm side. Built-in classes (TypeError...) are rebuilt as such. */
export function fromErrorRecord(record: ErrorRecord): Error {
  const Ctor = BUILTIN_ERRORS[record.name] ?? Error;
  const error =
    record.name === 'AggregateError'
      ? new AggregateError((record.errors ?? []).map(fromErrorRecord), record.message)
      : new Ctor(record.message);
  if (Ctor === Error && record.name !== 'Error' && !(error instanceof AggregateError)) {
    Object.defineProperty(error, 'name', { value: record.name, enumerable: false, configurable: true, writable: true });
  }
  if (record.stack !== undefined) error.stack = record.stack;
  if (record.props !== undefined) Object.assign(error, record.props);
  if (record.cause !== undefined) {
    Object.defineProperty(error, 'cause', {
      value: fromErrorRecord(record.cause),
      enumerable: false,
      configurable: true,
      writable: true,
    });
  }
  return error;
}

/**
 * `class MyError extends Error {}` keeps the inherited name 'Error'; users still expect to see
 * 'MyError', so the constructor name wins over a plain 'Error'.
 */
function className(error: Error): string {
  const name = typeof error.name === 'string' ? error.name : 'Error';
  if (name !== 'Error') return name;
  const ctor = (error as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === 'string' && ctor.name !== '' ? ctor.name : 'Error';
}

function addProps(record: ErrorRecord, source: Record<string, unknown>): void {
  let props: Record<string, unknown> | undefined;
  for (const key of Object.keys(source)) {
    if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause') continue;
    const value = jsonSafe(source[key]);
    if (value === undefined) continue;
    (props ??= {})[key] = value;
  }
  if (props !== undefined) record.props = props;
}

/** JSON round trip: what survives is safe on any channel; what throws (cycles, BigInt) is dropped. */
function jsonSafe(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
