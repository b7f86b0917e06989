/**
 * Workestrator's CBOR serializer, on cbor-x: booleans, numbers (-0, NaN and ±Infinity included),
 * strings, arrays, Sets (which arrive as arrays), plain objects, null, Maps, undefined, Buffers,
 * Dates, RegExps, URLs and BigInts.
 *
 * cbor-x encodes -0 as 0, a URL as {} and a Set as a Set, so before encoding those are replaced:
 * a Set by an array, a URL by a URI tag (32), -0 by a tag of ours. Only a payload that needed
 * this is wrapped in REVIVE_TAG and walked again when decoded; others are decoded as they are.
 * The tags are read back here rather than registered in cbor-x, whose extensions are global
 * (they would change the pool's own 'cbor' serializer too).
 */
import { Encoder, Tag } from 'cbor-x';
import { Serializer } from '../serializer.js';

const URI_TAG = 32;
/** Outside the ranges cbor-x reserves (packed references: 225-255, 28704-32767...). */
const REVIVE_TAG = 40_000;
const NEGATIVE_ZERO_TAG = 40_001;

export default class CborSerializer extends Serializer {
  private readonly encoder = new Encoder({ useRecords: false });

  encode(data: unknown): Uint8Array {
    const prepared = prepare(data, new Set());
    return this.encoder.encode(prepared === data ? data : new Tag(prepared, REVIVE_TAG));
  }

  decode(data: unknown): unknown {
    const decoded = this.encoder.decode(data as Uint8Array) as unknown;
    return decoded instanceof Tag && decoded.tag === REVIVE_TAG ? revive(decoded.value) : decoded;
  }
}

/** `value` with what cbor-x would get wrong replaced; the same object when nothing needed it. */
function prepare(value: unknown, path: Set<object>): unknown {
  if (typeof value === 'number') return Object.is(value, -0) ? new Tag(null, NEGATIVE_ZERO_TAG) : value;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof URL) return new Tag(value.href, URI_TAG);
  if (path.has(value)) throw new TypeError('CBOR cannot encode a circular structure');
  path.add(value);
  try {
    if (value instanceof Set) return [...value].map((item) => prepare(item, path));
    if (Array.isArray(value)) return mapArray(value, (item) => prepare(item, path));
    if (value instanceof Map) return mapMap(value, (item) => prepare(item, path));
    if (isPlainObject(value)) return mapObject(value, (item) => prepare(item, path));
    return value; // Date, RegExp, Buffer, typed arrays, class instances: cbor-x's business
  } finally {
    path.delete(value);
  }
}

function revive(value: unknown): unknown {
  if (value instanceof Tag) {
    if (value.tag === URI_TAG) return new URL(value.value as string);
    if (value.tag === NEGATIVE_ZERO_TAG) return -0;
    return value;
  }
  if (Array.isArray(value)) return mapArray(value, revive);
  if (value instanceof Map) return mapMap(value, revive);
  if (value !== null && typeof value === 'object' && isPlainObject(value)) return mapObject(value, revive);
  return value;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

// Copy on write: containers whose items all stay the same are returned as they are.

function mapArray(array: unknown[], fn: (item: unknown) => unknown): unknown[] {
  let copy: unknown[] | undefined;
  for (let i = 0; i < array.length; i++) {
    const item = fn(array[i]);
    if (item !== array[i]) (copy ??= array.slice())[i] = item;
  }
  return copy ?? array;
}

function mapMap(map: Map<unknown, unknown>, fn: (item: unknown) => unknown): Map<unknown, unknown> {
  let changed = false;
  const entries: [unknown, unknown][] = [];
  for (const [key, item] of map) {
    const entry: [unknown, unknown] = [fn(key), fn(item)];
    changed ||= entry[0] !== key || entry[1] !== item;
    entries.push(entry);
  }
  return changed ? new Map(entries) : map;
}

function mapObject(object: Record<string, unknown>, fn: (item: unknown) => unknown): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const item = fn(object[key]);
    if (item !== object[key]) (copy ??= { ...object })[key] = item;
  }
  return copy ?? object;
}
