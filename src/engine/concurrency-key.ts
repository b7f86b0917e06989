/**
 * Buckets of tasks: the value at a key path in a task's data, namespaced, computed once when
 * tasks are stored so a claim only compares stored strings. Two options use them:
 * concurrencyKey + keyConcurrency (namespaced by the step's handler key, so every workflow and
 * step running that handler with the same key value shares one bucket), and a keyed rate limit
 * `rateLimit: { name, key }` (namespaced by the limit's name: every step naming it with a key
 * shares the value's bucket). A task whose data has no usable key fails without running.
 */
import type { HandlerRef, ResolvedStepOptions } from '../backends/records.js';
import { ValidationError } from '../errors.js';

/** The value at a dotted path, or undefined when some part of the path is missing. */
function valueAt(data: unknown, path: string): unknown {
  let current: unknown = data;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** The bucket of one task, or null when its data has no usable key (the task fails when it runs). */
export function bucketOf(handlerKey: string, path: string, data: unknown): string | null {
  const value = valueAt(data, path);
  // JSON: unambiguous, tells "7" from 7, and escapes NUL, which PostgreSQL text cannot hold.
  if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) return JSON.stringify([handlerKey, value]);
  return null;
}

/** Buckets of tasks given as JSON, in order; undefined for a step without concurrencyKey (nothing to store). */
export function taskBuckets(handler: Pick<HandlerRef, "key">, options: Pick<ResolvedStepOptions, "concurrencyKey">, tasksJson: readonly string[]): (string | null)[] | undefined {
  const path = options.concurrencyKey;
  if (path === undefined) return undefined;
  return tasksJson.map((json) => bucketOf(handler.key, path, JSON.parse(json) as unknown));
}

/** The keyed rate limit of a step, in its stored (`rateLimitKey`) or public (`{ name, key }`) form. */
function rateKeyOf(options: { rateLimit?: string | { name: string; key: string }; rateLimitKey?: string }): { name: string; key: string } | undefined {
  const rate = options.rateLimit;
  if (rate === undefined) return undefined;
  if (typeof rate !== 'string') return rate;
  return options.rateLimitKey === undefined ? undefined : { name: rate, key: options.rateLimitKey };
}

/** Rate buckets of tasks given as JSON, in order; undefined for a step without a keyed rate limit. */
export function taskRateBuckets(
  options: { rateLimit?: string | { name: string; key: string }; rateLimitKey?: string },
  tasksJson: readonly string[],
): (string | null)[] | undefined {
  const rate = rateKeyOf(options);
  if (rate === undefined) return undefined;
  return tasksJson.map((json) => bucketOf(rate.name, rate.key, JSON.parse(json) as unknown));
}

/**
 * Why a task cannot run because a key its step's options name is missing from its data (no
 * string or number at the concurrencyKey path, or at the rate limit's key path), or null.
 */
export function missingKeyOf(handlerKey: string, options: ResolvedStepOptions, stepName: string, seq: number, data: unknown): ValidationError | null {
  if (options.concurrencyKey !== undefined && bucketOf(handlerKey, options.concurrencyKey, data) === null) {
    return missingKeyError(options.concurrencyKey, 'concurrencyKey', 'concurrency key', stepName, seq, data);
  }
  const rate = rateKeyOf(options);
  if (rate !== undefined && bucketOf(rate.name, rate.key, data) === null) {
    return missingKeyError(rate.key, `rateLimit "${rate.name}" key`, 'rate limit key', stepName, seq, data);
  }
  return null;
}

function missingKeyError(path: string, option: string, what: string, stepName: string, seq: number, data: unknown): ValidationError {
  const value = valueAt(data, path);
  const found = value === undefined ? 'nothing there' : `a ${value === null ? 'null' : typeof value}`;
  return new ValidationError(
    `task ${seq} of step "${stepName}" has no ${what}: its data must hold a string or a number at the ${option} path "${path}", found ${found}. Fix the task data or the step's ${option.split(' ')[0]}`,
  );
}
