/**
 * Checks of what a node reads back from its store. Whoever can write the store can write
 * anything there, and a record that does not parse must not stop a node: a step a node would
 * run is handed over marked `corrupt` (the engine fails its jobs, docs/backends/step-machine.md
 * "Corrupt records"), and a record only read for display is shown with what could be read.
 */
import type { RunnableStep } from './backend.js';
import { kindOf } from './event-messages.js';
import type { HandlerRef, ResolvedStepOptions, StepDependency, StoredWorkflowOptions } from './records.js';

/** Stand-ins for the options of a step whose stored options are corrupt: one attempt, no timeout. */
const CORRUPT_STEP_OPTIONS: ResolvedStepOptions = { taskConcurrency: 1, taskTimeout: 0, taskMaxFailCount: 1, taskFailRetryDelay: 0 };

/** What a backend knows of a runnable step before its stored handler and options are checked. */
export type RunnableBase = Omit<RunnableStep, 'handler' | 'options' | 'corrupt'>;

/** JSON text (or a value a driver already parsed, from a jsonb column) as a value, or why not. */
function read(stored: unknown): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (typeof stored !== 'string') return { ok: true, value: stored };
  try {
    return { ok: true, value: JSON.parse(stored) as unknown };
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function handlerProblem(value: unknown): string | null {
  if (!isObject(value)) return `${kindOf(value)}, not an object`;
  if (typeof value.key !== 'string' || value.key === '') return 'an object without a key';
  if (value.module !== undefined && typeof value.module !== 'string') return 'a module that is not a string';
  if (value.entry !== undefined && typeof value.entry !== 'string') return 'an entry that is not a string';
  return null;
}

function optionsProblem(value: unknown): string | null {
  if (!isObject(value)) return `${kindOf(value)}, not an object`;
  for (const key of ['taskConcurrency', 'taskTimeout', 'taskMaxFailCount', 'taskFailRetryDelay'] as const) {
    if (typeof value[key] !== 'number' || !Number.isFinite(value[key])) return `${key} is not a number`;
  }
  if (value.isolation !== undefined && !['none', 'thread', 'process'].includes(value.isolation as string)) return 'an unknown isolation';
  return null;
}

/**
 * A runnable step from its stored handler reference and options (JSON text, or already parsed
 * from jsonb): checked, and marked `corrupt` with stand-ins when one of them is not usable.
 */
export function toRunnable(base: RunnableBase, storedHandler: unknown, storedOptions: unknown): RunnableStep {
  const handler = read(storedHandler);
  const handlerWrong = handler.ok ? handlerProblem(handler.value) : handler.reason;
  const options = read(storedOptions);
  const optionsWrong = options.ok ? optionsProblem(options.value) : options.reason;
  if (handler.ok && options.ok && handlerWrong === null && optionsWrong === null) {
    return { ...base, handler: handler.value as HandlerRef, options: options.value as ResolvedStepOptions };
  }
  const corrupt = handlerWrong !== null ? { field: 'handler', reason: handlerWrong } : { field: 'options', reason: optionsWrong ?? '' };
  return {
    ...base,
    handler: { key: `corrupt:${base.workflowId}:${base.stepId}`, hasBeforeAll: true, hasAfterAll: true },
    options: CORRUPT_STEP_OPTIONS,
    corrupt,
  };
}

/**
 * A number read out of a stored record that only a machine uses (keepMs, maxNodeLosses): the
 * number, or undefined for anything but a finite one, so the caller falls back to its default.
 */
export function storedNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A stored JSON text read for display: its value, or `fallback` when it does not parse. */
export function readForDisplay<T>(stored: string | null | undefined, fallback: T): T {
  if (stored === null || stored === undefined) return fallback;
  const parsed = read(stored);
  return parsed.ok ? (parsed.value as T) : fallback;
}

/** Fallbacks shown for a record whose stored JSON does not parse. */
export const UNREADABLE = {
  handler: { key: '', hasBeforeAll: false, hasAfterAll: false } as HandlerRef,
  options: CORRUPT_STEP_OPTIONS,
  deps: [] as StepDependency[],
  workflowOptions: { cleanOnDone: false, retentionMs: null, keepMs: null, stepDefaults: {} } as StoredWorkflowOptions,
};
