/**
 * Concurrency buckets of tasks (step options concurrencyKey + keyConcurrency): the value at the
 * key path in a task's data, namespaced by the step's handler key, so every workflow and step
 * running that handler with the same key value shares one bucket. Computed once, when tasks are
 * stored, so a claim only compares stored strings.
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
export function taskBuckets(handler: Pick<HandlerRef, "key">, options: ResolvedStepOptions, tasksJson: readonly string[]): (string | null)[] | undefined {
  const path = options.concurrencyKey;
  if (path === undefined) return undefined;
  return tasksJson.map((json) => bucketOf(handler.key, path, JSON.parse(json) as unknown));
}

/** Why a task of a step with concurrencyKey cannot run: its data has no string or number at the path. */
export function missingKeyError(path: string, stepName: string, seq: number, data: unknown): ValidationError {
  const value = valueAt(data, path);
  const found = value === undefined ? 'nothing there' : `a ${value === null ? 'null' : typeof value}`;
  return new ValidationError(
    `task ${seq} of step "${stepName}" has no concurrency key: its data must hold a string or a number at the concurrencyKey path "${path}", found ${found}. Fix the task data or the step's concurrencyKey`,
  );
}
