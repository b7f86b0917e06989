/**
 * Row shapes the PostgreSQL queries return and their mapping to contract records. jsonb
 * columns arrive parsed, but stored errors arrive as JSON text (failure records, worded here by
 * readFailure); instants arrive as epoch milliseconds (float8).
 */
import { DEFAULT_QUEUES } from '../policy.js';
import type { BackendEvent, ClaimResult, RunnableStep } from '../backend.js';
import { readFailure } from '../failures.js';
import { readForDisplay, toRunnable } from '../stored-records.js';
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
} from '../records.js';
import { jobId, kindOfSeq } from './job-ids.js';

export interface WorkflowRow {
  id: string;
  name: string;
  key: string | null;
  status: WorkflowStatus;
  options: StoredWorkflowOptions;
  /** Stored error (JSON text). */
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  open_steps: number;
  retries: number;
}

export interface StepRow {
  /** When a step with a timer may start (epoch ms), set when its turn came. */
  ready_at: number | null;
  workflow_id: string;
  id: string;
  name: string;
  handler: HandlerRef;
  data: string;
  options: ResolvedStepOptions;
  deps: StepDependency[];
  anchor_id: string | null;
  anchor_phase: JobKind | null;
  anchor_seq: number | null;
  parent_id: string | null;
  decl_index: number;
  run_index: number | null;
  status: StepStatus;
  stage: StepStage;
  total: number;
  done: number;
  failed: number;
  /** Stored error (JSON text). */
  error: string | null;
  started_at: number | null;
  finished_at: number | null;
  /** Set while only its events hold it back; when its waitTimeout runs out. */
  wait_since: number | null;
  wait_due: number | null;
}

export interface TaskRow {
  seq: number;
  data: string;
  status: JobStatus;
  failed_count: number;
  lost_count: number;
  result: string | null;
  /** Stored error (JSON text). */
  error: string | null;
  finished_at: number | null;
}

export interface NodeRow {
  id: string;
  host: string;
  pid: number;
  handlers: string[];
  queues: string[];
  started_at: number;
  heartbeat_at: number;
  lease_expires_at: number;
}

/** One row of the runnableSteps query: the clock, and a step (all null when none). */
export interface RunnableRow {
  now: number;
  next_run_at: number | null;
  /** Earliest timer of a waiting step (it may be due already: then its step is started and the query runs again). */
  next_timer_at: number | null;
  /** The earliest waitTimeout of a held-back step. */
  next_wait_due: number | null;
  workflow_id: string | null;
  workflow_name: string;
  id: string;
  name: string;
  handler: HandlerRef;
  data: string;
  options: ResolvedStepOptions;
  run_index: number | null;
  parent_id: string | null;
}

/** Jobs handed out by claim_core, as parallel arrays. */
export interface ClaimRow {
  step_pk: string | null;
  seqs: number[] | null;
  datas: string[] | null;
  failed: number[] | null;
  tokens: number[] | null;
  /** Times each job was lost with its node before. */
  lost: number[] | null;
  total: number | null;
  watch: boolean | null;
  /** The step's rate limit cut the claim short: milliseconds until its next start (0: claim again at once). */
  rate_limited_ms?: number | null;
  /** The step's rate limit is not set. */
  unknown_rate_limit?: string | null;
}

/** What complete_jobs answers: refused ids, transitions, the next batch, adopted steps. */
export interface CompleteRow extends ClaimRow {
  /** Server process of the connection that ran it (its NOTIFY echoes carry this pid). */
  pid: number;
  stale: string[] | null;
  events: BackendEvent[] | null;
  adopted: { step: RunnableStep; claim: ClaimRow }[] | null;
}

export function toWorkflowRecord(row: WorkflowRow): WorkflowRecord {
  return {
    id: row.id,
    name: row.name,
    key: row.key,
    status: row.status,
    options: row.options,
    error: readFailure(row.error),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    openSteps: row.open_steps,
    retries: row.retries,
  };
}

export function toStepRecord(row: StepRow): StepRecord {
  return {
    workflowId: row.workflow_id,
    id: row.id,
    name: row.name,
    handler: row.handler,
    data: readForDisplay<unknown>(row.data, null),
    options: row.options,
    deps: row.deps,
    anchor:
      row.anchor_id === null || row.anchor_phase === null ? null : { stepId: row.anchor_id, phase: row.anchor_phase, seq: row.anchor_seq ?? 0 },
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

export function toTaskRecord(row: TaskRow, workflowId: string, stepId: string): TaskRecord {
  return {
    id: `${stepId}:${row.seq}`,
    workflowId,
    stepId,
    seq: row.seq,
    dataJson: row.data,
    status: row.status,
    failedCount: row.failed_count,
    lostCount: row.lost_count,
    resultJson: row.result,
    error: readFailure(row.error),
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
    handlers: row.handlers,
    queues: Array.isArray(row.queues) ? row.queues : [...DEFAULT_QUEUES],
  };
}

export function toRunnableStep(row: RunnableRow & { workflow_id: string }): RunnableStep {
  const base = {
    workflowId: row.workflow_id,
    workflowName: row.workflow_name,
    stepId: row.id,
    name: row.name,
    dataJson: row.data,
    runIndex: row.run_index ?? 0,
    parentId: row.parent_id,
  };
  return toRunnable(base, row.handler, row.options);
}

/** A step complete_jobs adopted, as the function built it (jsonb: the shape is checked). */
export function toAdoptedStep(step: RunnableStep): RunnableStep {
  const { handler, options, ...base } = step;
  return toRunnable(base, handler, options);
}

export function toClaimResult(row: ClaimRow | undefined, workflowId: string, stepId: string): ClaimResult {
  const seqs = row?.seqs ?? [];
  const stepPk = row?.step_pk ?? '';
  const datas = row?.datas ?? [];
  const failed = row?.failed ?? [];
  const lost = row?.lost ?? [];
  const tokens = row?.tokens ?? [];
  return {
    jobs: seqs.map((seq, i) => {
      const kind = kindOfSeq(seq);
      return {
        id: jobId(stepPk, seq),
        workflowId,
        stepId,
        kind,
        seq: kind === 'task' ? seq : 0,
        dataJson: datas[i] ?? 'null',
        failedCount: failed[i] ?? 0,
        lostCount: lost[i] ?? 0,
        token: tokens[i] ?? 0,
      };
    }),
    watchNextTask: row?.watch ?? false,
    taskCount: row?.total ?? 0,
    ...(row?.rate_limited_ms === null || row?.rate_limited_ms === undefined ? {} : { rateLimitedMs: Number(row.rate_limited_ms) }),
    ...(row?.unknown_rate_limit === null || row?.unknown_rate_limit === undefined ? {} : { unknownRateLimit: row.unknown_rate_limit }),
  };
}
