/**
 * What `DeFlow.schedule(name, options)` takes, checked once at the call, and what
 * `DeFlow.schedules()` lists. The workflow ids and key a schedule's ticks start under are
 * derived here, in one place.
 */
import type { NewSchedule, ScheduleRecord } from '../../backends/backend.js';
import { ValidationError } from '../../errors.js';
import { checkKnownKeys, checkNoNul, checkObject, describe } from '../../option-checks.js';
import { toJson } from '../../engine/json.js';
import { checkTimezone, parseCron } from './cron.js';

export interface ScheduleOptions {
  /** Cron expression: 5 fields (minute first) or 6 (seconds first), e.g. `"0 3 * * *"`. */
  cron: string;
  /** IANA time zone the cron is read in (default UTC), e.g. `"Europe/Paris"`. */
  timezone?: string;
  /** Name of the workflow definition (defineWorkflow) each tick starts. */
  workflow: string;
  /** The definition's input, the same for every tick (JSON). */
  input?: unknown;
  /** `'skip'` (default): a tick starts nothing while the schedule's previous workflow is unfinished. */
  overlap?: 'skip' | 'allow';
  /** Ticks missed while no node ran: `'none'` (default) skips them, `'latest'` fires the most recent once. */
  catchUp?: 'none' | 'latest';
}

/** A schedule as `DeFlow.schedules()` lists it. */
export interface ScheduleInfo {
  name: string;
  cron: string;
  /** null: UTC. */
  timezone: string | null;
  workflow: string;
  input: unknown;
  overlap: 'skip' | 'allow';
  catchUp: 'none' | 'latest';
  /** When it was last saved. */
  savedAt: Date;
  /** The most recent tick handled (started or skipped), or null. */
  lastTick: Date | null;
  /** The workflow the most recent started tick created, or null. */
  lastWorkflowId: string | null;
  /** The next tick (null: the expression never ticks again, or cannot be read). */
  nextRun: Date | null;
}

/** Longest schedule name: its workflow ids (`schedule:<name>:<tick ISO>`) stay within the id limit. */
export const MAX_SCHEDULE_NAME_LENGTH = 200;

/** The id of the workflow a tick starts: the same on every node, so one tick starts one workflow. */
export function tickWorkflowId(name: string, tick: number): string {
  return `schedule:${name}:${new Date(tick).toISOString()}`;
}

/** The business key every workflow of a schedule carries (list them with `deflow ls --key`). */
export function scheduleKey(name: string): string {
  return `schedule:${name}`;
}

export function checkScheduleName(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim().length === 0) throw new ValidationError(`${where} must be a non-empty string, got ${describe(value)}`);
  if (value.length > MAX_SCHEDULE_NAME_LENGTH) throw new ValidationError(`${where} must be at most ${MAX_SCHEDULE_NAME_LENGTH} characters long, got ${value.length}`);
  return checkNoNul(value, where);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T, where: string): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new ValidationError(`${where} must be ${allowed.map((a) => JSON.stringify(a)).join(' or ')}, got ${describe(value)}`);
}

/** Checks `DeFlow.schedule()`'s arguments; the definition name is checked by the caller. */
export function checkSchedule(name: unknown, value: unknown): NewSchedule {
  const where = 'DeFlow.schedule()';
  const checkedName = checkScheduleName(name, `${where} name`);
  const options = checkObject(value, `${where} options`);
  checkKnownKeys(options, ['cron', 'timezone', 'workflow', 'input', 'overlap', 'catchUp'], `${where} options`);
  const timezone = options.timezone === undefined ? null : checkTimezone(options.timezone, `${where} options.timezone`);
  parseCron(options.cron, timezone, `${where} options.cron`);
  if (typeof options.workflow !== 'string' || options.workflow.length === 0) {
    throw new ValidationError(`${where} options.workflow must name a workflow definition (defineWorkflow), got ${describe(options.workflow)}`);
  }
  return {
    name: checkedName,
    cron: (options.cron as string).trim(),
    timezone,
    workflow: checkNoNul(options.workflow, `${where} options.workflow`),
    inputJson: toJson(options.input ?? null, `${where} options.input`),
    overlap: oneOf(options.overlap, ['skip', 'allow'] as const, 'skip', `${where} options.overlap`),
    catchUp: oneOf(options.catchUp, ['none', 'latest'] as const, 'none', `${where} options.catchUp`),
  };
}

/** A stored schedule as users read it, with its next tick after `now`. */
export function scheduleInfo(record: ScheduleRecord, now: number): ScheduleInfo {
  let nextRun: Date | null = null;
  try {
    const after = Math.max(now, record.lastTick ?? 0, record.savedAt);
    const next = parseCron(record.cron, record.timezone, 'stored cron').next(after);
    nextRun = next === null ? null : new Date(next);
  } catch {
    // A stored expression that does not parse (written by hand) has no next run.
  }
  let input: unknown;
  try {
    input = JSON.parse(record.inputJson);
  } catch {
    input = record.inputJson;
  }
  return {
    name: record.name,
    cron: record.cron,
    timezone: record.timezone,
    workflow: record.workflow,
    input,
    overlap: record.overlap,
    catchUp: record.catchUp,
    savedAt: new Date(record.savedAt),
    lastTick: record.lastTick === null ? null : new Date(record.lastTick),
    lastWorkflowId: record.lastWorkflowId,
    nextRun,
  };
}
