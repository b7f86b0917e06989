/**
 * How call arguments and results cross to a worker. Each side builds the same codec from the
 * farm's `serializer` option:
 *
 * - 'json'      JSON semantics (Date → string, Map → {}), the default and the fastest.
 * - 'advanced'  V8 serialization (structured clone plus Buffer): Map, Set, Date, BigInt, RegExp,
 *               typed arrays, Buffer, cycles.
 * - 'cbor'      cbor-x: Map, Set, Date, BigInt, Buffer, undefined; compact binary.
 * - a file: URL of a module exporting `encode` / `decode` (or a default object or class with them).
 *
 * Every payload is encoded per call (so one bad argument fails one call, not a batch), except
 * where the channel already applies the same semantics to the whole message: a child process
 * with 'json' or 'advanced' IPC. There the codec is a pass-through and the channel does the work.
 */
import v8 from 'node:v8';
import { Encoder } from 'cbor-x';

export type FarmSerializerName = 'json' | 'advanced' | 'cbor';

/** A built-in serializer name, or the file: URL of a custom serializer module. */
export type SerializerSpec = string;

/** What a custom serializer module provides. Binary output arrives in `decode` as a Buffer. */
export interface FarmSerializer {
  encode(value: unknown): string | Uint8Array;
  decode(data: string | Uint8Array): unknown;
}

/**
 * What a loaded serializer is held to at run time: a Workestrator serializer may return any
 * value from `encode` (its JSON serializer returns the data itself); other than bytes, that
 * value crosses as the channel carries it (V8 serialization, structured clone).
 */
interface LoadedSerializer {
  encode(value: unknown): unknown;
  decode(data: unknown): unknown;
}

export interface PayloadCodec {
  /** True when the channel itself serializes payloads with the right semantics. */
  readonly passThrough: boolean;
  /** Encodes a value; `undefined` means the serializer encodes it as nothing (the call resolves undefined). */
  encode(value: unknown): unknown;
  decode(payload: unknown): unknown;
  /** Pass-through JSON: whether JSON would encode this top-level value as nothing. */
  omits?(value: unknown): boolean;
}

export const BUILTIN_SERIALIZERS: readonly FarmSerializerName[] = ['json', 'advanced', 'cbor'];

export function isBuiltinSerializer(spec: string): spec is FarmSerializerName {
  return (BUILTIN_SERIALIZERS as readonly string[]).includes(spec);
}

/** IPC serialization of a child process: JSON IPC is markedly faster per message in Node 20. */
export function channelSerialization(spec: SerializerSpec): 'json' | 'advanced' {
  return spec === 'json' ? 'json' : 'advanced';
}

const passThrough: PayloadCodec = { passThrough: true, encode: (value) => value, decode: (payload) => payload };

/**
 * JSON IPC would turn a top-level function or symbol into `null` inside the message, where the
 * thread codec's JSON.stringify gives `undefined`; both now resolve `undefined`, JSON's answer.
 */
const jsonPassThrough: PayloadCodec = { ...passThrough, omits: jsonOmits };

function jsonOmits(value: unknown): boolean {
  if (typeof value === 'function' || typeof value === 'symbol') return true;
  if (value === null || typeof value !== 'object') return false;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON !== 'function') return false;
  const json: unknown = toJSON.call(value, '');
  return json === undefined || typeof json === 'function' || typeof json === 'symbol';
}

const jsonCodec: PayloadCodec = {
  passThrough: false,
  encode: (value) => JSON.stringify(value),
  decode: (payload) => JSON.parse(payload as string) as unknown,
};

const advancedCodec: PayloadCodec = {
  passThrough: false,
  encode: (value) => v8.serialize(value),
  decode: (payload) => v8.deserialize(payload as Uint8Array) as unknown,
};

function binaryCodec(serializer: LoadedSerializer): PayloadCodec {
  return {
    passThrough: false,
    // Copy views: cbor-x returns a slice of a shared 8 KiB buffer, and cloning a view clones it whole.
    encode: (value) => {
      const data = serializer.encode(value);
      return !(data instanceof Uint8Array) || data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
    },
    // Channels deliver bytes as plain Uint8Array; a Buffer view (no copy) lets cbor-x give back Buffers.
    decode: (payload) => serializer.decode(payload instanceof Uint8Array ? asBuffer(payload) : payload),
  };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Codec for a built-in serializer; null for a custom module (use `loadCustomCodec`). */
export function builtinCodec(spec: SerializerSpec, type: 'process' | 'thread'): PayloadCodec | null {
  switch (spec) {
    case 'json':
      return type === 'process' ? jsonPassThrough : jsonCodec;
    case 'advanced':
      return type === 'process' ? passThrough : advancedCodec;
    case 'cbor': {
      const encoder = new Encoder();
      return binaryCodec({ encode: (value) => encoder.encode(value), decode: (data) => encoder.decode(data as Uint8Array) as unknown });
    }
    default:
      return null;
  }
}

/**
 * Imports a custom serializer module and checks its shape. `load` is how: workers import
 * natively (they get tsx when needed), the farm's process may need tsx for a `.ts` module.
 */
export async function loadCustomCodec(
  url: string,
  load: (url: string) => Promise<Record<string, unknown>> = async (url) => (await import(url)) as Record<string, unknown>,
): Promise<PayloadCodec> {
  const mod = await load(url);
  const serializer = pickSerializer(mod.default) ?? pickSerializer(mod);
  if (serializer === null) {
    throw new TypeError(
      `serializer module ${url} must export encode(value) and decode(data), as named exports, a default object or a default class`,
    );
  }
  return binaryCodec(serializer);
}

export async function loadCodec(spec: SerializerSpec, type: 'process' | 'thread'): Promise<PayloadCodec> {
  return builtinCodec(spec, type) ?? loadCustomCodec(spec);
}

function pickSerializer(candidate: unknown): LoadedSerializer | null {
  if (typeof candidate === 'function' && hasCodecMethods(candidate.prototype)) {
    return new (candidate as new () => LoadedSerializer)();
  }
  if (hasCodecMethods(candidate)) {
    const target = candidate;
    return { encode: (value) => target.encode(value), decode: (data) => target.decode(data) };
  }
  return null;
}

function hasCodecMethods(value: unknown): value is LoadedSerializer {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  const record = value as Record<string, unknown>;
  return typeof record.encode === 'function' && typeof record.decode === 'function';
}
