/**
 * What the API returns for stored records: plain JSON, the same shapes in every endpoint and
 * in the stream (and their schemas, for the OpenAPI document). Errors carry name, code and
 * message (no stack: it names the servers' files); payload texts are capped.
 */
import type { NodeRecord, StepRecord, TaskRecord, WorkflowRecord } from '../backends/backend.js';
import type { SerializedError } from '../errors.js';
import type { JsonSchema } from './json-schema.js';

/** Longest task data or result text returned; longer ones are cut and marked `truncated`. */
export const MAX_PAYLOAD_TEXT = 2048;

export interface ErrorView {
  name: string;
  code: string | null;
  message: string;
  hook: string | null;
}

export function errorView(error: SerializedError | null): ErrorView | null {
  if (error === null) return null;
  return { name: String(error.name), code: typeof error.code === 'string' ? error.code : null, message: String(error.message), hook: typeof error.hook === 'string' ? error.hook : null };
}

export function workflowView(w: WorkflowRecord): Record<string, unknown> {
  return { id: w.id, name: w.name, key: w.key, status: w.status, createdAt: w.createdAt, startedAt: w.startedAt, finishedAt: w.finishedAt, openSteps: w.openSteps, error: errorView(w.error) };
}

export function stepView(s: StepRecord): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    stage: s.stage,
    deps: s.deps,
    parentId: s.parentId,
    anchor: s.anchor,
    runIndex: s.runIndex,
    counts: s.counts,
    error: errorView(s.error),
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
  };
}

function capped(text: string | null): { text: string | null; truncated: boolean } {
  if (text === null || text.length <= MAX_PAYLOAD_TEXT) return { text, truncated: false };
  return { text: text.slice(0, MAX_PAYLOAD_TEXT), truncated: true };
}

export function taskView(t: TaskRecord): Record<string, unknown> {
  const data = capped(t.dataJson);
  const result = capped(t.resultJson);
  return {
    id: t.id,
    seq: t.seq,
    status: t.status,
    failedCount: t.failedCount,
    lostCount: t.lostCount,
    data: data.text,
    result: result.text,
    truncated: data.truncated || result.truncated,
    error: errorView(t.error),
    finishedAt: t.finishedAt,
  };
}

export function nodeView(n: NodeRecord, now: number): Record<string, unknown> {
  return { id: n.id, host: n.host, pid: n.pid, startedAt: n.startedAt, heartbeatAt: n.heartbeatAt, leaseExpiresAt: n.leaseExpiresAt, live: n.leaseExpiresAt > now, handlers: n.handlers, queues: n.queues };
}

// --- schemas (OpenAPI) ----------------------------------------------------------------------

const nullable = (type: string): JsonSchema => ({ type: [type, 'null'] });
const time = nullable('number');

export const WORKFLOW_STATUSES = ['pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled'] as const;
export const TASK_STATUSES = ['ready', 'leased', 'succeeded', 'failed'] as const;

export const errorSchema: JsonSchema = {
  type: ['object', 'null'],
  properties: { name: { type: 'string' }, code: nullable('string'), message: { type: 'string' }, hook: nullable('string'), stack: { type: 'string' } },
};

/** Longest stack returned (with the server's `stacks` option), in characters. */
export const MAX_STACK_TEXT = 8192;

/** A task's view with its error's stack (only when the server was asked for stacks: they name the workers' files). */
export function taskViewWithStack(t: TaskRecord): Record<string, unknown> {
  const view = taskView(t);
  const stack = t.error?.stack;
  if (view.error !== null && typeof stack === 'string') view.error = { ...(view.error as ErrorView), stack: stack.slice(0, MAX_STACK_TEXT) };
  return view;
}

export const workflowSchema: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    key: { type: ['string', 'null'] },
    status: { type: 'string', enum: [...WORKFLOW_STATUSES] },
    createdAt: { type: 'number' },
    startedAt: time,
    finishedAt: time,
    openSteps: { type: 'integer' },
    error: errorSchema,
  },
};

export const stepSchema: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string' },
    stage: { type: 'string' },
    deps: { type: 'array', items: { type: 'object', properties: { stepId: { type: 'string' }, on: { type: 'string' } } } },
    parentId: nullable('string'),
    anchor: { type: ['object', 'null'], properties: { stepId: { type: 'string' }, phase: { type: 'string' }, seq: { type: 'integer' } } },
    runIndex: nullable('integer'),
    counts: { type: 'object', properties: { total: { type: 'integer' }, done: { type: 'integer' }, failed: { type: 'integer' } } },
    error: errorSchema,
    startedAt: time,
    finishedAt: time,
  },
};

export const taskSchema: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    seq: { type: 'integer' },
    status: { type: 'string', enum: [...TASK_STATUSES] },
    failedCount: { type: 'integer' },
    lostCount: { type: 'integer' },
    data: { type: 'string', description: `task data as JSON text, cut at ${MAX_PAYLOAD_TEXT} characters` },
    result: { type: ['string', 'null'], description: 'result as JSON text, cut likewise' },
    truncated: { type: 'boolean' },
    error: errorSchema,
    finishedAt: time,
  },
};

export const nodeSchema: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    host: { type: 'string' },
    pid: { type: 'integer' },
    startedAt: { type: 'number' },
    heartbeatAt: { type: 'number' },
    leaseExpiresAt: { type: 'number' },
    live: { type: 'boolean' },
    handlers: { type: 'array', items: { type: 'string' } },
    queues: { type: 'array', items: { type: 'string' } },
  },
};

/** Every page: its items and the cursor of the next page (null on the last). */
export function pageSchema(items: JsonSchema): JsonSchema {
  return { type: 'object', properties: { items: { type: 'array', items }, nextCursor: nullable('string') } };
}
