/**
 * Type guards for event messages read from a channel (Redis pub/sub, PostgreSQL NOTIFY,
 * SQLite's events table). Anyone who can write to the server can write there, so nothing is
 * trusted: a message whose shape is not one deflow sends is skipped, with a reason saying why.
 */
import type { BackendEvent } from './backend.js';
import type { StepStatus, WorkflowStatus } from './records.js';

/** A checked value, or why it was refused (short and fixed: reasons are deduplicated by text). */
export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

const STEP_STATUSES: ReadonlySet<string> = new Set<StepStatus>(['waiting', 'running', 'succeeded', 'failed', 'skipped']);
const WORKFLOW_STATUSES: ReadonlySet<string> = new Set<WorkflowStatus>(['pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled']);

/** What a JSON value is, in words: for reasons. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: Record<string, unknown>, ...keys: string[]): boolean {
  return keys.every((key) => typeof value[key] === 'string');
}

/**
 * One event, as BackendEvent defines it; anything else is refused. A valid event is returned
 * as it came (same object, key order kept: PostgreSQL recognises its echoes by their text).
 */
export function checkEvent(value: unknown): Checked<BackendEvent> {
  if (!isRecord(value)) return { ok: false, reason: `an event is ${kindOf(value)}, not an object` };
  const problem = eventProblem(value);
  return problem === null ? { ok: true, value: value as unknown as BackendEvent } : { ok: false, reason: problem };
}

/** What is wrong with an event object, or null when it is a BackendEvent. */
function eventProblem(value: Record<string, unknown>): string | null {
  const lacks = (what: string): string => `a "${String(value.type)}" event lacks ${what}`;
  switch (value.type) {
    case 'wake':
      return null;
    case 'event':
      return strings(value, 'workflowId', 'eventId', 'name') ? null : lacks('a workflowId, eventId or name');
    case 'watch':
      return strings(value, 'workflowId') ? null : lacks('its workflowId');
    case 'work':
      return strings(value, 'workflowId', 'stepId') ? null : lacks('its workflowId or stepId');
    case 'step':
      return strings(value, 'workflowId', 'stepId') && STEP_STATUSES.has(value.status as string) ? null : lacks('a workflowId, stepId or step status');
    case 'workflow':
      return strings(value, 'workflowId') && WORKFLOW_STATUSES.has(value.status as string) ? null : lacks('a workflowId or workflow status');
    case 'nextTask':
      return strings(value, 'workflowId', 'stepId', 'taskId', 'dataJson') && Number.isSafeInteger(value.attempt) && (value.attempt as number) >= 1
        ? null
        : lacks('a workflowId, stepId, taskId, dataJson or attempt (an integer from 1)');
    default:
      return typeof value.type === 'string' ? 'an event of an unknown type' : 'an event without a type';
  }
}

/** A list of events: the ones that pass, and the reasons the others were refused. */
export function checkEvents(value: unknown): { events: BackendEvent[]; refused: string[] } {
  if (!Array.isArray(value)) return { events: [], refused: [`the events are ${kindOf(value)}, not an array`] };
  const events: BackendEvent[] = [];
  const refused: string[] = [];
  for (const item of value) {
    const checked = checkEvent(item);
    if (checked.ok) events.push(checked.value);
    else refused.push(checked.reason);
  }
  return { events, refused };
}

/** JSON text parsed, or the reason it could not be. */
export function parseJson(text: string): Checked<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
}

/** At most `max` characters of a message, quoted with control characters escaped, for a log line. */
export function excerpt(message: string, max = 80): string {
  const shown = JSON.stringify(message.length > max ? message.slice(0, max) : message);
  return message.length > max ? `${shown}… (${message.length} characters)` : shown;
}
