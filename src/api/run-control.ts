/**
 * Cancel, pause and resume of a stored workflow by id (DeFlow.cancel / pause / resume, the
 * handle's methods and the CLI commands all end here). The backend decides atomically; this
 * checks the input and names the workflow that does not exist.
 */
import type { Backend, RunControlAction } from '../backends/backend.js';
import { cancelledRecord } from '../backends/failures.js';
import type { WorkflowStatus } from '../backends/records.js';
import { redactError, secretsOf } from '../backends/redact-url.js';
import { chooseBackend } from '../backends/registry.js';
import { backendInput, checkRegisterOptions } from './options.js';
import type { RegisterOptions } from './options.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { checkNoNul, describe, nonEmptyString } from '../option-checks.js';

/** Longest cancel reason kept (it is stored as the workflow's error). */
export const MAX_CANCEL_REASON_LENGTH = 10_000;

/** true when the workflow changed; false when it was not in a state the action applies to (a finished one). */
export async function controlRun(backend: Backend, where: string, workflowId: unknown, action: RunControlAction, reason?: unknown): Promise<boolean> {
  return (await controlRunStatus(backend, where, workflowId, action, reason)).changed;
}

/** As controlRun, with the workflow's status after the call (what the CLI prints). */
export async function controlRunStatus(
  backend: Backend,
  where: string,
  workflowId: unknown,
  action: RunControlAction,
  reason?: unknown,
): Promise<{ changed: boolean; status: WorkflowStatus }> {
  const id = checkNoNul(nonEmptyString(workflowId, `${where} id`), `${where} id`);
  const request = { workflowId: id, action, ...(action === 'cancel' ? { errorJson: JSON.stringify(cancelledRecord(id, checkReason(reason, where))) } : {}) };
  const result = await backend.controlWorkflow(request);
  if (result === null) throw new NotFoundError(`${where}: workflow ${id} does not exist (it was removed, or never started); nothing to ${action}`);
  return { changed: result.changed, status: result.status };
}

/**
 * Run control from outside any registration (`deflow cancel | pause | resume`): opens the store
 * without joining as a node, acts, closes. The nodes running the workflow hear of it through
 * the backend's events like from any process.
 */
export async function controlStoredRun(
  options: RegisterOptions,
  workflowId: string,
  action: RunControlAction,
  reason?: string,
): Promise<{ changed: boolean; status: WorkflowStatus; location: string }> {
  const resolved = checkRegisterOptions(options);
  const backend = await chooseBackend(backendInput(resolved)).create();
  try {
    await backend.open();
    const result = await controlRunStatus(backend, `deflow ${action}`, workflowId, action, reason);
    return { ...result, location: backend.location };
  } catch (error) {
    throw redactError(error, secretsOf(resolved.backend, resolved.connection?.password));
  } finally {
    await backend.close().catch(() => undefined);
  }
}

function checkReason(reason: unknown, where: string): string | undefined {
  if (reason === undefined) return undefined;
  if (typeof reason !== 'string') throw new ValidationError(`${where} reason must be a string or left out, got ${describe(reason)}`);
  if (reason.length > MAX_CANCEL_REASON_LENGTH) {
    throw new ValidationError(`${where} reason is ${reason.length} characters long; keep it under ${MAX_CANCEL_REASON_LENGTH}`);
  }
  return checkNoNul(reason, `${where} reason`);
}
