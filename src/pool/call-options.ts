/**
 * Checks what a caller hands to `farm.call()` / `runMethod()` before anything happens, so a bad
 * value rejects with a ValidationError that says what to pass, and never counts as a pending
 * call (a half-registered call would hold a maxConcurrentCalls slot and keep the process alive).
 */
import { inspect } from 'node:util';
import { ValidationError } from './errors.js';
import { validateCallTimeout } from './options.js';

export interface CheckedCall {
  method: string;
  args: unknown[];
  signal: AbortSignal | undefined;
  timeout: number | undefined;
}

const CALL_KEYS = new Set(['method', 'args', 'signal', 'timeout']);

/** Validates `farm.call()` options; throws ValidationError. */
export function checkCallOptions(options: unknown): CheckedCall {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ValidationError(`call options must be an object ({ method?, args?, signal?, timeout? }), got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!CALL_KEYS.has(key)) throw new ValidationError(`call options.${key} is not a call option (method, args, signal, timeout)`);
  }
  const { method = 'default', args = [], signal, timeout } = options as Record<string, unknown>;
  checkMethod(method, 'call options.method');
  if (!Array.isArray(args)) throw new ValidationError(`call options.args must be an array of arguments (e.g. args: [value]), got ${show(args)}`);
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw new ValidationError(
      `call options.signal must be an AbortSignal (pass controller.signal, not the AbortController), got ${typeName(signal)}`,
    );
  }
  return { method, args: [...(args as unknown[])], signal, timeout: validateCallTimeout(timeout) };
}

/** The export name given to call/runMethod/broadcastMethod. */
export function checkMethod(method: unknown, name = 'method'): asserts method is string {
  if (typeof method !== 'string' || method === '') {
    throw new ValidationError(`${name} must be a non-empty string naming an export of the worker module, got ${show(method)}`);
  }
}

/** Duck-typed, so a signal from another realm (vm context, polyfill) still works. */
function isAbortSignal(value: unknown): value is AbortSignal {
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Partial<AbortSignal>;
  return typeof candidate.aborted === 'boolean' && typeof candidate.addEventListener === 'function' && typeof candidate.removeEventListener === 'function';
}

function show(value: unknown): string {
  return inspect(value, { depth: 0, breakLength: Infinity });
}

function typeName(value: unknown): string {
  if (value === null || typeof value !== 'object') return show(value);
  const ctor = (value as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === 'string' && ctor.name !== '' ? ctor.name : show(value);
}
