/**
 * Cancel, pause and resume of a stored workflow by id (DeFlow.cancel / pause / resume, the
 * handle's methods and the CLI commands all end here). The backend decides atomically; this
 * checks the input and names the workflow that does not exist.
 */
import type { Backend, RunControlAction } from '../backends/backend.js';
import { cancelledRecord } from '../backends/failures.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { checkNoNul, describe, nonEmptyString } from '../option-checks.js';

/** Longest cancel reason kept (it is stored as the workflow's error). */
export const MAX_CANCEL_REASON_LENGTH = 10_000;

/** true when the workflow changed; false when it was not in a state the action applies to (a finished one). */
export async function controlRun(backend: Backend, where: string, workflowId: unknown, action: RunControlAction, reason?: unknown): Promise<boolean> {
  const id = checkNoNul(nonEmptyString(workflowId, `${where} id`), `${where} id`);
  const request = { workflowId: id, action, ...(action === 'cancel' ? { errorJson: JSON.stringify(cancelledRecord(id, checkReason(reason, where))) } : {}) };
  const result = await backend.controlWorkflow(request);
  if (result === null) throw new NotFoundError(`${where}: workflow ${id} does not exist (it was removed, or never started); nothing to ${action}`);
  return result.changed;
}

function checkReason(reason: unknown, where: string): string | undefined {
  if (reason === undefined) return undefined;
  if (typeof reason !== 'string') throw new ValidationError(`${where} reason must be a string or left out, got ${describe(reason)}`);
  if (reason.length > MAX_CANCEL_REASON_LENGTH) {
    throw new ValidationError(`${where} reason is ${reason.length} characters long; keep it under ${MAX_CANCEL_REASON_LENGTH}`);
  }
  return checkNoNul(reason, `${where} reason`);
}
