/** Row shapes of the embedded schema and their mapping to contract records. */
import type { SerializedError } from '../../errors.js';
import type {
  HandlerRef,
  JobKind,
  JobStatus,
  NodeRecord,
  ResolvedStepOptions,
  StepDependency,
  StepRecord,
  StepStage,
  StepStatus,
  StoredWorkflowOptions,
  TaskRecord,
  WorkflowRecord,
  WorkflowStatus,
} from '../types.js';

export interface WorkflowRow {
  id: string;
  name: string;
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
  has_before: number;
  has_after: number;
  failing: string | null;
  total: number;
  done: number;
  failed: number;
  next_seq: number;
  child_seq: number;
  error: string | null;
  started_at: number | null;
  finished_at: number | null;
}

export interface TaskRow {
  id: number;
  seq: number;
  data: string;
  status: number;
  failed_count: number;
  result: string | null;
  error: string | null;
  finished_at: number | null;
}

export interface NodeRow {
  pk: number;
  id: string;
  host: string;
  pid: number;
  handlers: string;
  started_at: number;
  heartbeat_at: number;
  lease_expires_at: number;
}

export const JOB_KIND_CODE: Record<JobKind, number> = { task: 0, before: 1, after: 2 };
export const JOB_KINDS: readonly JobKind[] = ['task', 'before', 'after'];
export const JOB_STATUSES: readonly JobStatus[] = ['ready', 'leased', 'succeeded', 'failed'];
export const JOB_READY = 0;
export const JOB_SUCCEEDED = 2;
export const JOB_FAILED = 3;

export function parseError(text: string | null): SerializedError | null {
  return text === null ? null : (JSON.parse(text) as SerializedError);
}

export function toWorkflowRecord(row: WorkflowRow): WorkflowRecord {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    options: JSON.parse(row.options) as StoredWorkflowOptions,
    error: parseError(row.error),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    openSteps: row.open_steps,
  };
}

export function toStepRecord(row: StepRow, anchorId: string | null): StepRecord {
  return {
    workflowId: row.workflow_id,
    id: row.id,
    name: row.name,
    handler: JSON.parse(row.handler) as HandlerRef,
    data: JSON.parse(row.data) as unknown,
    options: JSON.parse(row.options) as ResolvedStepOptions,
    deps: JSON.parse(row.deps) as StepDependency[],
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
    error: parseError(row.error),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export function toTaskRecord(row: TaskRow, workflowId: string, stepId: string): TaskRecord {
  return {
    id: `${stepId}:${row.seq}`,
    workflowId,
    stepId,
    seq: row.seq,
    data: JSON.parse(row.data) as unknown,
    status: JOB_STATUSES[row.status] ?? 'ready',
    failedCount: row.failed_count,
    result: row.result === null ? undefined : (JSON.parse(row.result) as unknown),
    error: parseError(row.error),
    finishedAt: row.finished_at,
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
    handlers: JSON.parse(row.handlers) as string[],
  };
}
