/**
 * JSON is the wire format of every payload (step data, task data, results): it is what all
 * three backends store and what other languages can read. Values JSON would silently mangle
 * (functions, symbols, BigInt, NaN, Infinity, Map, Set, binary data, circular structures) are
 * rejected with an error that says where they are and what to do, instead of being stored wrong.
 * JSON's own conversions stay: a Date becomes its ISO string, `undefined` in an array null.
 */
import { ValidationError } from '../errors.js';

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
 * `undefined` is refused unless `allowUndefined`, in which case it returns null.
 */
export function toJson(value: unknown, what: string): string;
export function toJson(value: unknown, what: string, allowUndefined: true): string | null;
export function toJson(value: unknown, what: string, allowUndefined = false): string | null {
  // Fast paths for scalars, which handlers return most of the time.
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
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
  return text;
}

export function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}
