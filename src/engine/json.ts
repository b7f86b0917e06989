/**
 * JSON is the wire format of every payload (step data, task data, results): it is what all
 * three backends store and what other languages can read. Values JSON would silently mangle
 * (functions, symbols, BigInt, NaN, Infinity, Map, Set, binary data, circular structures) are
 * rejected with an error that says where they are and what to do, instead of being stored wrong.
 * JSON's own conversions stay: a Date becomes its ISO string, `undefined` in an array null.
 *
 * Payloads are also limited in size (`DeFlow.register({ maxPayloadBytes })`): every backend
 * keeps them in memory or in one row, and every reader parses them whole. The size is measured
 * on the JSON text made here anyway, in UTF-8 bytes, so the hot path serializes only once.
 */
import { ValidationError } from '../errors.js';

/** 1 MiB: room for real records, far below what would hurt a backend or a reader. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

// Per process, like the registration that sets it, and shared through globalThis for the same
// reason: a second copy of deflow (a global CLI running a project's own) applies the same limit.
const LIMIT = Symbol.for('deflow.maxPayloadBytes');
const shared = globalThis as typeof globalThis & { [LIMIT]?: number };

/** Sets the limit of this process (one registration per process; unregister restores the default). */
export function setMaxPayloadBytes(bytes: number): void {
  shared[LIMIT] = bytes;
}

function maxPayloadBytes(): number {
  return shared[LIMIT] ?? DEFAULT_MAX_PAYLOAD_BYTES;
}

/**
 * Throws if `text` is over `limit` UTF-8 bytes. A UTF-16 code unit is 1 to 3 UTF-8 bytes, so
 * the length alone settles most payloads without counting.
 */
export function checkPayloadSize(text: string, what: string, limit = maxPayloadBytes()): void {
  if (text.length * 3 <= limit) return;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= limit) return;
  throw new ValidationError(
    `${what} is ${bytes} bytes as JSON, over the payload limit of ${limit} bytes (${mebibytes(limit)}). ` +
      'Store large data elsewhere (a file, an object store) and pass a reference, ' +
      'or raise the limit with DeFlow.register({ maxPayloadBytes }) on every process.',
  );
}

function mebibytes(bytes: number): string {
  return `${Number((bytes / 1024 / 1024).toFixed(2))} MiB`;
}

function rejectUnfaithful(this: unknown, key: string, value: unknown): unknown {
  // Before toJSON: a Buffer would arrive here as {type, data}, a Uint8Array as {"0": …}.
  const original = (this as Record<string, unknown>)[key];
  if (ArrayBuffer.isView(original) || original instanceof ArrayBuffer) {
    throw new UnfaithfulValue(key, `binary data (${original.constructor.name})`, 'encode binary data as a string (base64) first');
  }
  switch (typeof value) {
    case 'function':
    case 'symbol':
    case 'bigint':
      throw new UnfaithfulValue(key, `a ${typeof value}`);
    case 'number':
      if (!Number.isFinite(value)) throw new UnfaithfulValue(key, String(value));
      return value;
    case 'object':
      if (value instanceof Map || value instanceof Set) throw new UnfaithfulValue(key, `a ${value.constructor.name}`);
      return value;
    default:
      return value;
  }
}

class UnfaithfulValue extends Error {
  constructor(
    readonly key: string,
    readonly what: string,
    readonly fix = 'convert it to plain objects, arrays, strings, finite numbers, booleans or null',
  ) {
    super(what);
  }
}

/**
 * Serializes `value`, which `what` names in error messages ("task data at index 3").
 * `undefined` is refused unless `allowUndefined`, in which case it returns null. The text must
 * fit in `limit` bytes (the process's payload limit by default).
 */
export function toJson(value: unknown, what: string, allowUndefined?: false, limit?: number): string;
export function toJson(value: unknown, what: string, allowUndefined: true, limit?: number): string | null;
export function toJson(value: unknown, what: string, allowUndefined = false, limit = maxPayloadBytes()): string | null {
  // Fast paths for scalars, which handlers return most of the time.
  switch (typeof value) {
    case 'string': {
      const text = JSON.stringify(value);
      checkPayloadSize(text, what, limit);
      return text;
    }
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (Number.isFinite(value)) return JSON.stringify(value);
      break;
    default:
      if (value === null) return 'null';
  }
  if (value === undefined) {
    if (allowUndefined) return null;
    throw new ValidationError(`${what} is undefined; use null, or leave the property out`);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value, rejectUnfaithful);
  } catch (error) {
    if (error instanceof UnfaithfulValue) {
      const where = error.key === '' ? '' : ` at key "${error.key}"`;
      throw new ValidationError(
        `${what} is not JSON-serialisable: it holds ${error.what}${where}. deflow stores payloads as JSON: ${error.fix}.`,
      );
    }
    throw new ValidationError(`${what} is not JSON-serialisable: ${(error as Error).message}`);
  }
  if (text === undefined) {
    throw new ValidationError(`${what} is not JSON-serialisable (a ${typeof value}); use plain data`);
  }
  checkPayloadSize(text, what, limit);
  return text;
}

export function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}
