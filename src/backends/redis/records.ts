/** Redis hashes and script replies turned into contract records (and nothing else). */
import { DEFAULT_QUEUES } from '../policy.js';
import { readFailure } from '../failures.js';
import { readForDisplay, UNREADABLE } from '../stored-records.js';
import type {
  JobKind,
  JobStatus,
  NodeRecord,
  StepRecord,
  StepStage,
  StepStatus,
  TaskRecord,
  WorkflowRecord,
  WorkflowStatus,
} from '../records.js';
import type { Reply } from './scripts.js';

function numberOrNull(text: string | undefined): number | null {
  return text === undefined || text === '' ? null : Number(text);
}

export function toWorkflowRecord(hash: Record<string, string>): WorkflowRecord | null {
  if (hash.id === undefined) return null;
  return {
    id: hash.id,
    name: hash.name ?? '',
    key: hash.key === undefined || hash.key === '' ? null : hash.key,
    status: (hash.status ?? 'pending') as WorkflowStatus,
    options: readForDisplay(hash.options, UNREADABLE.workflowOptions),
    error: readFailure(hash.error),
    createdAt: Number(hash.createdAt),
    startedAt: numberOrNull(hash.startedAt),
    finishedAt: numberOrNull(hash.finishedAt),
    openSteps: Number(hash.open ?? 0),
    retries: Number(hash.retries ?? 0) || 0,
  };
}

/** Step attributes read by getStep, in this order (read-step.lua returns them plus the anchor's id). */
export const STEP_ATTRIBUTES = [
  'id',
  'name',
  'handler',
  'data',
  'options',
  'deps',
  'anchor',
  'phase',
  'aseq',
  'parent',
  'decl',
  'run',
  'status',
  'stage',
  'total',
  'done',
  'failed',
  'err',
  'sAt',
  'fAt',
  'rat',
  'wsince',
  'wdue',
] as const;

type StepAttributes = Partial<Record<(typeof STEP_ATTRIBUTES)[number], string>>;

export function toStepRecord(workflowId: string, a: StepAttributes, anchorId: string | null): StepRecord {
  const phase = a.phase === undefined || a.phase === '' ? null : (a.phase as JobKind);
  return {
    workflowId,
    id: a.id ?? '',
    name: a.name ?? '',
    handler: readForDisplay(a.handler, UNREADABLE.handler),
    data: readForDisplay<unknown>(a.data, null),
    options: readForDisplay(a.options, UNREADABLE.options),
    deps: readForDisplay(a.deps, UNREADABLE.deps),
    anchor: anchorId === null || phase === null ? null : { stepId: anchorId, phase, seq: Number(a.aseq ?? 0) },
    parentId: a.parent === undefined || a.parent === '' ? null : a.parent,
    declIndex: Number(a.decl ?? 0),
    runIndex: numberOrNull(a.run),
    status: (a.status ?? 'waiting') as StepStatus,
    stage: (a.stage ?? 'before') as StepStage,
    counts: { total: Number(a.total ?? 0), done: Number(a.done ?? 0), failed: Number(a.failed ?? 0) },
    error: readFailure(a.err),
    readyAt: numberOrNull(a.rat),
    startedAt: numberOrNull(a.sAt),
    finishedAt: numberOrNull(a.fAt),
    eventWait: a.status === 'waiting' && numberOrNull(a.wsince) !== null ? { since: Number(a.wsince), dueAt: numberOrNull(a.wdue) } : null,
  };
}

/** Every step of a workflow from its `st` hash ("<n>:<attr>" fields), in execution order. */
export function toStepRecords(workflowId: string, hash: Record<string, string>): StepRecord[] {
  const byNumber = new Map<string, StepAttributes>();
  for (const [field, value] of Object.entries(hash)) {
    const colon = field.indexOf(':');
    const n = field.slice(0, colon);
    let attributes = byNumber.get(n);
    if (attributes === undefined) {
      attributes = {};
      byNumber.set(n, attributes);
    }
    (attributes as Record<string, string>)[field.slice(colon + 1)] = value;
  }
  const records = [...byNumber.values()].map((a) => {
    const anchor = a.anchor === undefined || a.anchor === '' ? null : (byNumber.get(a.anchor)?.id ?? null);
    return toStepRecord(workflowId, a, anchor);
  });
  // Execution order first; steps that never started follow in declaration order.
  return records.sort((x, y) => {
    if (x.runIndex === null || y.runIndex === null) {
      if (x.runIndex !== y.runIndex) return x.runIndex === null ? 1 : -1;
      return x.declIndex - y.declIndex;
    }
    return x.runIndex - y.runIndex || x.declIndex - y.declIndex;
  });
}

/** Job state (lua/lib/core.lua): status|failedCount[.lostCount]|token|owner|runAt|finishedAt|tail. */
const STATE = /^(\d)\|(\d+)(?:\.(\d+))?\|(\d+)\|([^|]*)\|(\d+)\|(\d*)\|/;
const JOB_STATUSES: Record<string, JobStatus> = { '1': 'leased', '2': 'succeeded', '3': 'failed', '4': 'ready' };

/** One task from read-tasks.lua: seq, data, state ('' = fresh), side-hook error. */
export function toTaskRecord(workflowId: string, stepId: string, seq: number, data: string, state: string, sideError: string): TaskRecord {
  const match = STATE.exec(state);
  if (match === null) {
    return { id: `${stepId}:${seq}`, workflowId, stepId, seq, dataJson: data, status: 'ready', failedCount: 0, lostCount: 0, resultJson: null, error: null, finishedAt: null };
  }
  const [head, status = '0', failed = '0', lost = '0', , , , finished = ''] = match;
  const tail = state.slice(head.length);
  return {
    id: `${stepId}:${seq}`,
    workflowId,
    stepId,
    seq,
    dataJson: data,
    status: JOB_STATUSES[status] ?? 'ready',
    failedCount: Number(failed),
    lostCount: Number(lost),
    resultJson: status === '2' && tail !== '' ? tail : null,
    error: status === '2' ? readFailure(sideError) : readFailure(tail),
    finishedAt: finished === '' ? null : Number(finished),
  };
}

/**
 * The end of a nodeinfo value: the handlers as JSON, then a newline and the queues as JSON (JSON
 * text has no raw newline, so the split is unambiguous; a value without one is from before queues).
 */
export function nodeInfoTail(handlers: readonly string[], queues: readonly string[]): string {
  return `${JSON.stringify(handlers)}\n${JSON.stringify(queues)}`;
}

/** nodeinfo value: "<tag>|<leaseMs>|<startedAt>|<heartbeatAt>|<pid>|<host>|<handlers JSON>\n<queues JSON>". */
export function toNodeRecord(id: string, info: string, leaseExpiresAt: number): NodeRecord {
  const parts = info.split('|');
  const [handlers = '[]', queues] = (parts.slice(6).join('|') || '[]').split('\n');
  return {
    id,
    host: parts[5] ?? '',
    pid: Number(parts[4] ?? 0),
    startedAt: Number(parts[2] ?? 0),
    heartbeatAt: Number(parts[3] ?? 0),
    leaseExpiresAt,
    handlers: readForDisplay<string[]>(handlers, []),
    queues: queues === undefined ? [...DEFAULT_QUEUES] : readForDisplay<string[]>(queues, [...DEFAULT_QUEUES]),
  };
}

/** Reads a reply element as an array (a missing element is an empty one). */
export function list(reply: Reply | undefined): Reply[] {
  return Array.isArray(reply) ? reply : [];
}

export function text(reply: Reply | undefined): string {
  return reply === null || reply === undefined ? '' : Array.isArray(reply) ? '' : String(reply);
}
