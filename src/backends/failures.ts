/**
 * Failures and refusals of the step machine: the structured records backends store and
 * return, and the one place their user-facing messages are written. The rules that produce
 * them are in docs/backends/step-machine.md (Failures, Refusals).
 *
 * Backends store records without any English in them. A stored record becomes the contract's
 * SerializedError (`formatFailure`) where it leaves the backend: the backend's mapping from
 * its rows or hashes to WorkflowRecord / StepRecord / TaskRecord. A refusal becomes the
 * DeflowError the backend rejects with (`refusalError`). Backend events carry no error.
 */
import { LeaseLostError, NotFoundError, NotRetryableError, StepClosedError, ValidationError } from '../errors.js';
import type { DeflowError, SerializedError } from '../errors.js';
import type { JobKind, StepStage, StepStatus } from './records.js';

// --- failures (stored) -------------------------------------------------------------------------

/**
 * A step failed. As a workflow's error: the first unhandled failure. As the error of a step
 * that added children with addAfter: one of them failed (`anchorStep` names the adder).
 */
export interface StepFailedRecord {
  code: 'ERR_STEP_FAILED';
  /** Name and id of the step that failed. */
  step: string;
  stepId: string;
  /** Its status: failed (an added step that was skipped fails its anchor too). */
  status: StepStatus;
  /** The stage in which it failed; absent when it never ran. */
  stage?: StepStage;
  /** Set when the failed step was added with addAfter: the step that added it, which it fails. */
  anchorStep?: string;
  anchorStepId?: string;
  /** The failed step's own error. */
  cause?: StoredError;
}

/** Tasks of a step failed for good: the step ran its remaining tasks and afterAll, then failed. */
export interface TaskFailedRecord {
  code: 'ERR_TASK_FAILED';
  step: string;
  stepId: string;
  status: 'failed';
  stage: 'tasks';
  /** Seq of the first task that failed for good; null when it is not known. */
  task: number | null;
  /** Tasks failed for good, and the step's task total. */
  failed: number;
  total: number;
  /** The first failed task's error. */
  cause?: StoredError;
}

/**
 * Stored on a job taken back from a dead node (the node-loss rule): ready again while
 * `lostCount < maxNodeLosses`, failed for good once it reaches it. Records stored before
 * `maxNodeLosses` existed have only the code (the attempt was counted as failed then).
 */
export interface NodeLostRecord {
  code: 'ERR_NODE_LOST';
  /** Name of the job's step. */
  step?: string;
  /** The lost job: a task's seq, or the hook. */
  task?: number;
  hook?: 'beforeAll' | 'afterAll';
  /** Times this job was lost with its node, this loss included, and the step's limit. */
  lostCount?: number;
  maxNodeLosses?: number;
}

/**
 * A number the step machine keeps in the store (Redis: a step's task counts, a workflow's open
 * step count, ...), or a job's state, holds something else: the step (or, without `stepId`, the
 * workflow) fails.
 */
export interface CorruptNumberRecord {
  code: 'ERR_CORRUPT_RECORD';
  workflowId: string;
  /** The step whose record held it, by id and name; absent for the workflow's own record. */
  stepId?: string;
  step?: string;
  /** The field, as the backend names it, and the start of what it held. */
  field: string;
  value: string;
}

/** The workflow was cancelled (`workflow.cancel(reason)`): stored as its error. */
export interface WorkflowCancelledRecord {
  code: 'ERR_WORKFLOW_CANCELLED';
  workflowId: string;
  /** What the canceller said; absent when nothing. */
  reason?: string;
}

/** The record a cancel stores, built here and handed to every backend as a parameter. */
export function cancelledRecord(workflowId: string, reason?: string): WorkflowCancelledRecord {
  return reason === undefined ? { code: 'ERR_WORKFLOW_CANCELLED', workflowId } : { code: 'ERR_WORKFLOW_CANCELLED', workflowId, reason };
}


/**
 * A step with `waitFor` waited `waitTimeout` ms, once its dependencies were done, and not
 * every event it waits for arrived: it fails (a `when: 'failure'` dependent can handle it).
 */
export interface WaitTimeoutRecord {
  code: 'ERR_TIMEOUT';
  reason: 'wait-for-events';
  step: string;
  stepId: string;
  /** The events the step waits for, and its waitTimeout in milliseconds. */
  waitFor: string[];
  waitTimeout: number;
}

/**
 * A step names a rate limit that is not set (never, or removed since): each job of it a node
 * claims fails for good with this record (docs/backends/step-machine.md, the claim rule).
 */
export interface UnknownRateLimitRecord {
  code: 'ERR_RATE_LIMIT_UNKNOWN';
  step: string;
  stepId: string;
  rateLimit: string;
}

export type FailureRecord = StepFailedRecord | TaskFailedRecord | NodeLostRecord | CorruptNumberRecord | WorkflowCancelledRecord | WaitTimeoutRecord | UnknownRateLimitRecord;

/**
 * What a backend stores where an error goes: a failure record, or an error that already has
 * its message (a handler's error; a record a PostgreSQL schema stored preformatted before its
 * migration 0002).
 */
export type StoredError = FailureRecord | SerializedError;

/**
 * What every node-loss record starts with. Backends add the fields (step, task or hook,
 * lostCount, maxNodeLosses) in their recovery; they get this as a parameter.
 */
export const NODE_LOST: NodeLostRecord = { code: 'ERR_NODE_LOST' };

/** A node-loss record as a backend in TypeScript stores it. */
export function nodeLost(step: string, job: { kind: JobKind; seq: number }, lostCount: number, maxNodeLosses: number): NodeLostRecord {
  const which = job.kind === 'task' ? { task: job.seq } : { hook: job.kind === 'before' ? ('beforeAll' as const) : ('afterAll' as const) };
  return { ...NODE_LOST, step, ...which, lostCount, maxNodeLosses };
}

const NODE_LOST_LEGACY_MESSAGE =
  'the node running this job stopped responding (its lease expired without a heartbeat); the attempt was counted as failed';

function nodeLostMessage(record: NodeLostRecord): string {
  const { lostCount, maxNodeLosses } = record;
  if (lostCount === undefined || maxNodeLosses === undefined) return NODE_LOST_LEGACY_MESSAGE;
  const job =
    record.task !== undefined ? `task ${record.task}` : record.hook !== undefined ? `the ${record.hook} hook` : 'a job';
  const ofStep = record.step === undefined ? '' : ` of step "${record.step}"`;
  if (lostCount >= maxNodeLosses) {
    return (
      `${job}${ofStep} was lost with its node ${lostCount} time${lostCount === 1 ? '' : 's'} (maxNodeLosses: ${maxNodeLosses}): ` +
      'it may crash its process (a native crash, running out of memory, process.exit). Fix it, or raise the step option ' +
      'maxNodeLosses if its nodes were stopped for other reasons (deploys, scaling down)'
    );
  }
  return (
    `${job}${ofStep} was lost with its node (${lostCount} of maxNodeLosses: ${maxNodeLosses}): its node stopped responding ` +
    '(its lease expired without a heartbeat); it runs again, and the loss does not count as a failed attempt'
  );
}

/** Also what a node reports a corrupt number with (found inside a script, see redis/core.ts). */
export function corruptNumberMessage(record: CorruptNumberRecord): string {
  const owner =
    record.stepId === undefined
      ? `workflow ${record.workflowId}`
      : `step ${record.step === undefined ? '' : `"${record.step}" `}(id ${record.stepId}) of workflow ${record.workflowId}`;
  return (
    `${owner}: the ${record.field} field of its stored record holds ${JSON.stringify(record.value)}, not what deflow writes there; ` +
    'the store was written by something other than deflow (or damaged). Run the workflow again.'
  );
}

function hasMessage(stored: StoredError): stored is SerializedError {
  return typeof (stored as { message?: unknown }).message === 'string';
}

/** A stored error (record or already formatted) as users see it; causes are formatted first. */
export function formatFailure(stored: StoredError): SerializedError {
  // Stored records are read back from a store others may write: a cause of the wrong kind is shown, not thrown.
  if (typeof stored !== 'object' || (stored as unknown) === null || Array.isArray(stored)) return corruptError();
  // An error with a message passes through untouched: handlers' errors, and records a
  // PostgreSQL schema stored preformatted before its migration 0002.
  if (hasMessage(stored)) return stored;
  switch (stored.code) {
    case 'ERR_STEP_FAILED': {
      const { code, cause: storedCause, ...fields } = stored;
      const cause = storedCause === undefined ? undefined : formatFailure(storedCause);
      const message =
        stored.anchorStep === undefined
          ? `step "${stored.step}" failed: ${cause?.message ?? 'unknown error'}`
          : `step "${stored.step}" added by "${stored.anchorStep}" with addAfter ${stored.status}: ${cause?.message ?? 'a step it depends on failed'}`;
      return { name: 'StepFailedError', code, message, ...fields, ...(cause === undefined ? {} : { cause }) };
    }
    case 'ERR_TASK_FAILED': {
      const { code, cause: storedCause, task, ...fields } = stored;
      const cause = storedCause === undefined ? undefined : formatFailure(storedCause);
      const message = `${stored.failed} of ${stored.total} tasks failed; first failure (task ${task ?? '?'}): ${cause?.message ?? 'unknown error'}`;
      return {
        name: cause?.name ?? 'Error',
        code,
        message,
        ...fields,
        ...(task === null ? {} : { task }),
        ...(cause === undefined ? {} : { cause }),
      };
    }
    case 'ERR_NODE_LOST': {
      const { code, ...fields } = stored;
      return { name: 'NodeLostError', code, message: nodeLostMessage(stored), ...fields };
    }
    case 'ERR_CORRUPT_RECORD': {
      const { code, ...fields } = stored;
      return { name: 'CorruptRecordError', code, message: corruptNumberMessage(stored), ...fields };
    }
    case 'ERR_WORKFLOW_CANCELLED': {
      const { code, ...fields } = stored;
      const why = typeof stored.reason === 'string' ? `: ${stored.reason}` : ' (no reason given)';
      return { name: 'WorkflowCancelledError', code, message: `workflow ${stored.workflowId} was cancelled${why}`, ...fields };
    }
    case 'ERR_TIMEOUT': {
      const { code, ...fields } = stored;
      const names = Array.isArray(stored.waitFor) ? stored.waitFor.map((name) => `"${String(name)}"`).join(', ') : '?';
      const message =
        `step "${stored.step}" waited ${stored.waitTimeout} ms (waitTimeout) for the events ${names} and not all of them arrived; ` +
        "handle it with a step that depends on it with when: 'failure', or raise waitTimeout";
      return { name: 'TimeoutError', code, message, ...fields };
    }
    case 'ERR_RATE_LIMIT_UNKNOWN': {
      const { code, ...fields } = stored;
      const message =
        `step "${stored.step}" counts its starts against rate limit "${stored.rateLimit}", which is not set: ` +
        `call DeFlow.setRateLimit(${JSON.stringify(stored.rateLimit)}, { max, per }) before running it`;
      return { name: 'RateLimitError', code, message, ...fields };
    }
    default: {
      // A code this version does not know (written by a newer one): show it rather than nothing.
      const unknown = stored as Record<string, unknown>;
      return { ...unknown, name: 'Error', message: `failed (${String(unknown.code)})` };
    }
  }
}

function corruptError(): SerializedError {
  return { name: 'CorruptRecordError', code: 'ERR_CORRUPT_RECORD', message: 'the stored error is not a JSON object', field: 'error' };
}

/**
 * Stored error JSON text (null when none) as users see it. Text that is not a JSON object (a
 * corrupt record) is shown as a CorruptRecordError rather than failing the read.
 */
export function readFailure(text: string | null | undefined): SerializedError | null {
  if (text === null || text === undefined || text === '') return null;
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    stored = undefined;
  }
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) {
    return corruptError();
  }
  return formatFailure(stored as StoredError);
}

// --- refusals (thrown) -------------------------------------------------------------------------

export type RefusalRecord =
  /** The step (or the anchor of addAfter) does not exist: never did, or its workflow was removed. */
  | { code: 'ERR_NOT_FOUND'; workflowId: string; stepId: string }
  /** A retry of a workflow that does not exist. */
  | { code: 'ERR_NOT_FOUND'; operation: 'retry'; workflowId: string }
  /** A retry the workflow's state does not allow (the retry transition's refusals). */
  | { code: 'ERR_NOT_RETRYABLE'; reason: 'unfinished'; workflowId: string; status: string }
  | { code: 'ERR_NOT_RETRYABLE'; reason: 'succeeded'; workflowId: string }
  | { code: 'ERR_NOT_RETRYABLE'; reason: 'step-not-failed'; workflowId: string; step: string; stepId: string; status: string }
  /** addTasks to a step past its tasks stage. */
  | { code: 'ERR_STEP_CLOSED'; operation: 'addTasks'; step: string; stepId: string; status: StepStatus; stage: StepStage }
  /** addAfter from a phase that is over. */
  | { code: 'ERR_STEP_CLOSED'; operation: 'addAfter'; phase: JobKind; step: string; stepId: string; status: StepStatus; stage: StepStage }
  /** A claim by a node that is not registered (any more). */
  | { code: 'ERR_LEASE_LOST'; nodeId: string }
  /** A workflow whose steps repeat an id, or depend on an id that is not among them. */
  | { code: 'ERR_VALIDATION'; reason: 'duplicate-step-id'; workflowId: string; stepId: string }
  | { code: 'ERR_VALIDATION'; reason: 'unknown-dependency'; workflowId: string; step: string; stepId: string; dependsOn: string };

function refusalMessage(record: RefusalRecord): string {
  switch (record.code) {
    case 'ERR_NOT_FOUND':
      return 'stepId' in record
        ? `step "${record.stepId}" of workflow ${record.workflowId} does not exist (was the workflow removed?)`
        : `cannot retry workflow ${record.workflowId}: it does not exist (never created, or removed by clean(), retention or cleanOnDone)`;
    case 'ERR_NOT_RETRYABLE':
      return notRetryableMessage(record);
    case 'ERR_STEP_CLOSED':
      return record.operation === 'addTasks'
        ? `cannot add tasks to step "${record.step}": its tasks already ran (step is ${record.status}, stage ${record.stage}). ` +
            'Add a new step with step.addAfter({ step, tasks }) instead.'
        : `cannot add a step after the ${record.phase} phase of step "${record.step}": that phase is over ` +
            `(step is ${record.status}, stage ${record.stage}). Call step.addAfter() from inside beforeAll, handler or afterAll.`;
    case 'ERR_LEASE_LOST':
      return `node ${record.nodeId} is not registered any more (its lease expired); it must register again`;
    case 'ERR_VALIDATION':
      return record.reason === 'duplicate-step-id'
        ? `two steps of workflow ${record.workflowId} have the id "${record.stepId}"`
        : `step "${record.step}" depends on unknown step id "${record.dependsOn}"`;
  }
}

function notRetryableMessage(record: Extract<RefusalRecord, { code: 'ERR_NOT_RETRYABLE' }>): string {
  switch (record.reason) {
    case 'unfinished':
      return (
        `cannot retry workflow ${record.workflowId}: it is still ${record.status}. ` +
        'Wait for it to finish (await workflow.done()), then retry it.'
      );
    case 'succeeded':
      return (
        `cannot retry workflow ${record.workflowId}: it succeeded, nothing failed. ` +
        "To run a step and the steps after it again, pass from: '<step name>'."
      );
    case 'step-not-failed':
      return (
        `cannot retry the failed work of step "${record.step}" of workflow ${record.workflowId}: the step is ${record.status}, not failed. ` +
        `To run it again from scratch, pass from: '${record.step}'.`
      );
  }
}

/** The error a backend rejects with for a refusal: its class by code, the record's fields on it. */
export function refusalError(record: RefusalRecord): DeflowError {
  const message = refusalMessage(record);
  let error: DeflowError;
  switch (record.code) {
    case 'ERR_NOT_FOUND':
      error = new NotFoundError(message);
      break;
    case 'ERR_STEP_CLOSED':
      error = new StepClosedError(message);
      break;
    case 'ERR_LEASE_LOST':
      error = new LeaseLostError(message);
      break;
    case 'ERR_VALIDATION':
      error = new ValidationError(message);
      break;
    case 'ERR_NOT_RETRYABLE':
      error = new NotRetryableError(message);
      break;
  }
  const { code: _code, ...fields } = record;
  return Object.assign(error, fields);
}
