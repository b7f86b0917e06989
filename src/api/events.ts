/**
 * Events and signals (docs/concepts.md#events): the checks every emitting call makes, the
 * deterministic id of an event emitted by a job, and what a step that waited sees of them.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { EventRecord, NewEvent } from '../backends/backend.js';
import { ValidationError } from '../errors.js';
import { checkKnownKeys, checkNoNul, checkObject, describe, duration, nonEmptyString } from '../option-checks.js';
import { fromJson, toJson } from '../engine/json.js';
import type { JobContext } from '../engine/handler-contract.js';

/** The longest event name and event id, in characters (names are indexed by every backend). */
export const MAX_EVENT_NAME_LENGTH = 256;
export const MAX_EVENT_ID_LENGTH = 512;

/** An event as a step that waited for it, and a handle's 'event' listener, see it. */
export interface WorkflowEvent<D = unknown> {
  id: string;
  name: string;
  data: D;
  /** When the workflow received it (backend clock, epoch ms). */
  at: number;
}

export interface EmitOptions {
  /**
   * Makes the event count once per workflow whatever the number of deliveries (a retried
   * emitter, a replayed webhook). Default: a fresh id per call (from a step: derived from the
   * job, so a hook re-run after a crash emits nothing twice).
   */
  id?: string;
}

/** Options of a global event (`DeFlow.emit`). */
export interface GlobalEmitOptions extends EmitOptions {
  /**
   * Delivers the event only to the unfinished workflows created with this business key
   * (`WorkFlow.create(name, { key })`). Default: every unfinished workflow.
   */
  key?: string;
}

const EMIT_OPTION_KEYS = ['id'];

export function checkEventName(name: unknown, where: string): string {
  const text = checkNoNul(nonEmptyString(name, `${where}: event name`), `${where}: event name`);
  if (text.length > MAX_EVENT_NAME_LENGTH) {
    throw new ValidationError(`${where}: event name must be at most ${MAX_EVENT_NAME_LENGTH} characters, got ${text.length}`);
  }
  return text;
}

/** `waitFor` of addStep / addAfter: an array of event names (empty: waits for nothing). */
export function checkWaitFor(value: unknown, where: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ValidationError(`${where}: waitFor must be an array of event names, got ${describe(value)}`);
  const names = value.map((name, i) => checkEventName(name, `${where}: waitFor[${i}]`));
  return [...new Set(names)];
}

export function checkWaitTimeout(value: unknown, where: string): number | undefined {
  return value === undefined ? undefined : duration(value, `${where}: waitTimeout`, 1);
}

/** The event to store: name and data checked, id the caller's or `fallbackId`. */
export function newEvent(
  name: unknown,
  data: unknown,
  options: EmitOptions | undefined,
  where: string,
  fallbackId: () => string,
  optionKeys: readonly string[] = EMIT_OPTION_KEYS,
): NewEvent {
  const checkedName = checkEventName(name, where);
  let id: string | undefined;
  if (options !== undefined) {
    checkKnownKeys(checkObject(options, `${where} options`), [...optionKeys], `${where} options`);
    if (options.id !== undefined) {
      id = checkNoNul(nonEmptyString(options.id, `${where} options: id`), `${where} options: id`);
      if (id.length > MAX_EVENT_ID_LENGTH) throw new ValidationError(`${where} options: id must be at most ${MAX_EVENT_ID_LENGTH} characters, got ${id.length}`);
    }
  }
  return { id: id ?? fallbackId(), name: checkedName, dataJson: toJson(data ?? null, `${where}: event data`) };
}

export function randomEventId(): string {
  return randomUUID();
}

/** Same id on every attempt of the same emit of a job: a re-run hook emits nothing twice. */
export function jobEventId(context: JobContext, call: number): string {
  const { step, job } = context;
  const digest = createHash('sha1').update(`${step.workflowId}|${step.stepId}|${job.kind}|${job.seq}|${call}`).digest('base64url');
  return `emit:${step.stepId}:${digest.slice(0, 16)}`;
}

/** An event as users see it; data that is not JSON (written by something else) is shown as its text. */
export function toWorkflowEvent<D = unknown>(record: EventRecord): WorkflowEvent<D> {
  let data: unknown;
  try {
    data = fromJson(record.dataJson);
  } catch {
    data = record.dataJson;
  }
  return { id: record.id, name: record.name, data: data as D, at: record.at };
}
