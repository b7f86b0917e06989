/** Row shapes of the embedded schema and their mapping to contract records. */
import type { RunnableStep } from '../backend.js';
import { readFailure } from '../failures.js';
import { DEFAULT_QUEUES } from '../policy.js';
import { readForDisplay, toRunnable, UNREADABLE } from '../stored-records.js';
import type { StoredError } from '../failures.js';
import type { Statements } from './statements.js';
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

export interface WorkflowRow {
  id: string;
  name: string;
  business_key: string | null;
  status: WorkflowStatus;
  options: string;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  expires_at: number | null;
  open_steps: number;
  run_seq: number;
  watch_next_task: number;
  retries: number;
}

export interface StepRow {
  pk: number;
  workflow_id: string;
  id: string;
  name: string;
  handler: string;
  data: string;
  options: string;
  max_attempts: number;
  retry_delay: number;
  deps: string;
  anchor_pk: number | null;
  anchor_phase: JobKind | null;
  anchor_seq: number | null;
  parent_id: string | null;
  decl_index: number;
  run_index: number | null;
  status: StepStatus;
  stage: StepStage;
  /** The stage a failed step failed in (null unless failed). */
  failed_stage: StepStage | null;
  has_before: number;
  has_after: number;
  failing: string | null;
  total: number;
  done: number;
  failed: number;
  next_seq: number;
  fresh_cursor: number;
  /** globalConcurrency (null: none); with key_limit set, the step's tasks are leased alone. */
  global_limit: number | null;
  /** keyConcurrency (null: none). */
  key_limit: number | null;
  child_seq: number;
  error: string | null;
  started_at: number | null;
  finished_at: number | null;
  delay_ms: number;
  start_at: number | null;
  /** When a step with a timer may start, set when its turn came. */
  ready_at: number | null;
  /** JSON string[] of the events it waits for (null: none), and its waitTimeout in ms. */
  wait_for: string | null;
  wait_timeout: number | null;
  /** Set while only its events hold it back; when its waitTimeout runs out. */
  wait_since: number | null;
  wait_due: number | null;
  /** The step's rate limit (generated from options; null: none). */
  rate_limit: string | null;
  /** Its keyed rate limit's key path (generated from options; null: none or not keyed). */
  rate_key: string | null;
  priority: number;
}

/** A row of the tasksPage query, read as an array: id, data, status, failed_count, result, error, finished_at, lost_count. */
export type TaskRow = [
  id: number,
  data: string,
  status: number,
  failedCount: number,
  result: string | null,
  error: string | null,
  finishedAt: number | null,
  lostCount: number,
];

export interface NodeRow {
  pk: number;
  id: string;
  host: string;
  pid: number;
  handlers: string;
  queues: string;
  started_at: number;
  heartbeat_at: number;
  lease_expires_at: number;
}

/**
 * Job ids: step_pk * 2^26 + slot (keep in sync with sql/*.sql). A step's jobs are one rowid
 * range in task order; ids stay below 2^53, so they are exact JavaScript numbers.
 */
export const SLOTS_PER_STEP = 67_108_864;
export const BEFORE_SLOT = 0;
export const AFTER_SLOT = SLOTS_PER_STEP - 1;
export const MAX_TASKS_PER_STEP = SLOTS_PER_STEP - 2;
export const MAX_STEP_PK = Math.floor(Number.MAX_SAFE_INTEGER / SLOTS_PER_STEP) - 1;

export function jobId(stepPk: number, slot: number): number {
  return stepPk * SLOTS_PER_STEP + slot;
}

export function stepPkOf(id: number): number {
  return Math.floor(id / SLOTS_PER_STEP);
}

export function slotOf(id: number): number {
  return id % SLOTS_PER_STEP;
}

export function kindOfSlot(slot: number): JobKind {
  return slot === BEFORE_SLOT ? 'before' : slot === AFTER_SLOT ? 'after' : 'task';
}

/** Status codes: 0 fresh, 1 leased alone, 2 succeeded, 3 failed, 4 ready again. */
export const JOB_SUCCEEDED = 2;
export const JOB_FAILED = 3;
const JOB_STATUSES: readonly JobStatus[] = ['ready', 'leased', 'succeeded', 'failed', 'ready'];

/** A stored error as stored (a failure record or a formatted error), for the machine's own use. */
export function parseStored(text: string | null): StoredError | null {
  return readForDisplay<StoredError | null>(text, null);
}

export function toWorkflowRecord(row: WorkflowRow): WorkflowRecord {
  return {
    id: row.id,
    name: row.name,
    key: row.business_key,
    status: row.status,
    options: readForDisplay(row.options, UNREADABLE.workflowOptions),
    error: readFailure(row.error),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    openSteps: row.open_steps,
    retries: row.retries,
  };
}

export function toStepRecord(row: StepRow, anchorId: string | null): StepRecord {
  return {
    workflowId: row.workflow_id,
    id: row.id,
    name: row.name,
    handler: readForDisplay(row.handler, UNREADABLE.handler),
    data: readForDisplay<unknown>(row.data, null),
    options: readForDisplay(row.options, UNREADABLE.options),
    deps: readForDisplay(row.deps, UNREADABLE.deps),
    anchor:
      anchorId === null || row.anchor_phase === null
        ? null
        : { stepId: anchorId, phase: row.anchor_phase, seq: row.anchor_seq ?? 0 },
    parentId: row.parent_id,
    declIndex: row.decl_index,
    runIndex: row.run_index,
    status: row.status,
    stage: row.stage,
    counts: { total: row.total, done: row.done, failed: row.failed },
    error: readFailure(row.error),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    readyAt: row.ready_at,
    eventWait: row.wait_since === null ? null : { since: row.wait_since, dueAt: row.wait_due },
  };
}

/**
 * Successes of range-leased tasks live in range_results, not on their job rows (which stay
 * fresh): fills them in for a page of rows, in place.
 */
export function overlayRangeResults(q: Statements, stepPk: number, rows: TaskRow[]): void {
  const first = rows[0];
  const last = rows.at(-1);
  if (first === undefined || last === undefined) return;
  const found = new Map<number, { resultJson: string | null; finishedAt: number }>();
  const batches = q.rangeResultsNear.all({ stepPk, from: first[0], to: last[0] }) as { ids: string; results: string; finished_at: number }[];
  for (const batch of batches) {
    const ids = readForDisplay<number[]>(batch.ids, []);
    const results = readForDisplay<(string | null)[]>(batch.results, []);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (id >= first[0] && id <= last[0]) found.set(id, { resultJson: results[i] ?? null, finishedAt: batch.finished_at });
    }
  }
  if (found.size === 0) return;
  for (const row of rows) {
    const hit = row[2] === 0 ? found.get(row[0]) : undefined;
    if (hit === undefined) continue;
    row[2] = JOB_SUCCEEDED;
    row[4] = hit.resultJson;
    row[6] = hit.finishedAt;
  }
}

export function toTaskRecord(row: TaskRow, workflowId: string, stepId: string): TaskRecord {
  const [id, data, status, failedCount, result, error, finishedAt, lostCount] = row;
  const seq = slotOf(id);
  return {
    id: `${stepId}:${seq}`,
    workflowId,
    stepId,
    seq,
    dataJson: data,
    status: JOB_STATUSES[status] ?? 'ready',
    failedCount,
    lostCount,
    resultJson: result,
    error: readFailure(error),
    finishedAt,
  };
}

export function toNodeRecord(row: NodeRow): NodeRecord {
  return {
    id: row.id,
    host: row.host,
    pid: row.pid,
    startedAt: row.started_at,
    heartbeatAt: row.heartbeat_at,
    leaseExpiresAt: row.lease_expires_at,
    handlers: readForDisplay<string[]>(row.handlers, []),
    queues: readForDisplay<string[]>(row.queues, [...DEFAULT_QUEUES]),
  };
}

/** A running step as the engine needs it to run its jobs (marked corrupt when its record is). */
export function runnableStep(row: StepRow, workflowName: string): RunnableStep {
  const base = {
    workflowId: row.workflow_id,
    workflowName,
    stepId: row.id,
    name: row.name,
    dataJson: row.data,
    runIndex: row.run_index ?? 0,
    parentId: row.parent_id,
  };
  return toRunnable(base, row.handler, row.options);
}
