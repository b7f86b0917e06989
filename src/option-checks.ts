/**
 * Checks of option values users give, shared by the api (register, workflow and step options)
 * and the backends (their own part of the register options): each message names the option,
 * says what it must be and shows what it got.
 */
import { MAX_TIMER_MS } from './clock.js';
import { ValidationError } from './errors.js';

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function checkObject(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw new ValidationError(`${where} must be an object, got ${describe(value)}`);
  return value;
}

export function checkKnownKeys(value: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ValidationError(`${where}: unknown option "${key}". Known options: ${known.join(', ')}`);
    }
  }
}

export function integer(value: unknown, name: string, min: number, unit = '', max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const kind = min > 0 ? 'a positive integer' : 'a non-negative integer';
    throw new ValidationError(`${name} must be ${kind}${unit}, got ${describe(value)}`);
  }
  if (value > max) throw new ValidationError(`${name} must be at most ${max}${unit}, got ${value}`);
  return value;
}

/**
 * A duration in milliseconds that reaches a timer. Node's timers hold at most 2^31-1 ms and turn
 * anything longer into 1 ms, so a longer value is refused here rather than firing at once.
 */
export function duration(value: unknown, name: string, min: number, unit = ' (milliseconds)'): number {
  const ms = integer(value, name, min, unit, Number.MAX_SAFE_INTEGER);
  if (ms > MAX_TIMER_MS) {
    throw new ValidationError(`${name} must be at most ${MAX_TIMER_MS} ms (~24.8 days, the longest a timer can wait), got ${ms}`);
  }
  return ms;
}

/** The latest instant a Date can hold (epoch ms). */
const MAX_INSTANT_MS = 8_640_000_000_000_000;

/** A point in time: a valid Date, or epoch milliseconds (a non-negative integer). Returns epoch ms. */
export function instant(value: unknown, name: string): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > MAX_INSTANT_MS) {
    const what = value instanceof Date ? 'an invalid Date' : describe(value);
    throw new ValidationError(`${name} must be a valid Date or epoch milliseconds (a non-negative integer), got ${what}`);
  }
  return ms;
}

export function boolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new ValidationError(`${name} must be true or false, got ${describe(value)}`);
  return value;
}

export function nonEmptyString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError(`${name} must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

/**
 * A name deflow stores and looks up (workflow, step, handler names; ids): no NUL, which
 * PostgreSQL cannot store, and which other stores could let cut a name short, so "a\0b" could
 * never be told from "a" in some index. Refused the same on every backend.
 */
export function checkNoNul(value: string, name: string): string {
  if (value.includes('\0')) {
    throw new ValidationError(`${name} must not contain a NUL character ("\\0"; no backend can store it faithfully), got ${describe(value)}`);
  }
  return value;
}

/** A value as a message shows it: strings quoted, objects by kind only (they may hold secrets). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
