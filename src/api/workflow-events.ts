/** What a workflow handle emits, and the error done() rejects with when a workflow fails. */
import type { StepStatus, WorkflowStatus } from '../backends/records.js';
import { DeflowError, ValidationError } from '../errors.js';
import { describe } from '../option-checks.js';
import type { WorkflowEvent } from './events.js';
import type { WorkflowResult } from './results.js';

export interface NextTaskInfo {
  /** Task id, `<stepId>:<seq>`. */
  id: string;
  workflowId: string;
  stepId: string;
  stepKey: string;
  data: unknown;
  /** 1 for the first attempt. */
  attempt: number;
}

export interface StepFinishedInfo {
  workflowId: string;
  stepId: string;
  status: StepStatus;
}

export interface WorkflowEventMap {
  /** The workflow finished (succeeded, failed or cancelled): check `result.status`. */
  done: [result: WorkflowResult];
  /** The workflow failed, or could not start. Only emitted when listened to. */
  error: [error: Error];
  /** A node started an attempt of a task. */
  nextTask: [task: NextTaskInfo];
  /** A step finished. */
  step: [step: StepFinishedInfo];
  /** The workflow received an event (step.emit, workflow.signal, DeFlow.emit); a duplicate id is not reported. */
  event: [event: WorkflowEvent];
}

const WORKFLOW_EVENTS: readonly (keyof WorkflowEventMap)[] = ['done', 'error', 'nextTask', 'step', 'event'];

/**
 * Refuses an event name a workflow never emits: a listener for a misspelt event ('Done',
 * 'finish') would wait forever without a word.
 */
export function checkEventName(event: unknown, where: string): asserts event is keyof WorkflowEventMap {
  if (!WORKFLOW_EVENTS.includes(event as keyof WorkflowEventMap)) {
    throw new ValidationError(`${where}: a workflow emits no event ${describe(event)}; its events are ${WORKFLOW_EVENTS.map((name) => `"${name}"`).join(', ')}`);
  }
}

/** What done() rejects with when a workflow failed or was cancelled; `result` holds its steps and tasks. */
export class WorkflowFailedError extends DeflowError {
  readonly workflowId: string;
  readonly status: WorkflowStatus;
  readonly result: WorkflowResult;

  constructor(result: WorkflowResult, code = 'ERR_WORKFLOW_FAILED') {
    super(code, `workflow ${result.id} ${result.status}: ${result.error?.message ?? 'no reason recorded'}`);
    this.workflowId = result.id;
    this.status = result.status;
    this.result = result;
  }
}

/**
 * What done() rejects with when the workflow was cancelled (workflow.cancel, DeFlow.cancel,
 * `deflow cancel`): a WorkflowFailedError with code `ERR_WORKFLOW_CANCELLED`; `reason` is what
 * the canceller gave.
 */
export class WorkflowCancelledError extends WorkflowFailedError {
  readonly reason: string | undefined;

  constructor(result: WorkflowResult) {
    super(result, 'ERR_WORKFLOW_CANCELLED');
    const reason = (result.error as { reason?: unknown } | null)?.reason;
    this.reason = typeof reason === 'string' ? reason : undefined;
  }
}

/** The error done() rejects with for a workflow that ended without succeeding. */
export function endError(result: WorkflowResult): WorkflowFailedError {
  return result.status === 'cancelled' ? new WorkflowCancelledError(result) : new WorkflowFailedError(result);
}
