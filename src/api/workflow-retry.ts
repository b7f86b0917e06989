/**
 * Retry of a finished workflow (`workflow.retry()`, `DeFlow.retry()`): the options checked and
 * step names resolved to ids here; what runs again is the backend's retry transition
 * (docs/backends/step-machine.md).
 */
import type { Backend, RetryRequest, RetryResult } from '../backends/backend.js';
import { refusalError } from '../backends/failures.js';
import { ValidationError } from '../errors.js';
import { boolean, checkKnownKeys, checkNoNul, checkObject, nonEmptyString } from '../option-checks.js';

export interface RetryOptions {
  /**
   * Name of a declared step: it and every step depending on it, transitively, run again from
   * scratch (their tasks ready again, results cleared). Failed steps elsewhere are retried too.
   */
  from?: string;
  /** Name of a declared step whose failed work alone is retried (needs `failedOnly: true`); other failed steps stay failed. */
  step?: string;
  /** With `step`: keep the step's succeeded tasks, give its failed ones fresh attempts. */
  failedOnly?: boolean;
}

const KNOWN = ['from', 'step', 'failedOnly'] as const;

/** Checks the options, resolves step names, and asks the backend to retry. */
export async function retryStored(backend: Backend, workflowId: string, options: RetryOptions | undefined, where: string): Promise<RetryResult> {
  const given = checkObject(options, `${where} options`);
  checkKnownKeys(given, KNOWN, `${where} options`);
  const from = given.from === undefined ? undefined : checkNoNul(nonEmptyString(given.from, `${where} option from`), `${where} option from`);
  const step = given.step === undefined ? undefined : checkNoNul(nonEmptyString(given.step, `${where} option step`), `${where} option step`);
  const failedOnly = given.failedOnly === undefined ? false : boolean(given.failedOnly, `${where} option failedOnly`);
  if (from !== undefined && step !== undefined) {
    throw new ValidationError(`${where}: give either from (run a step and its dependents again) or step with failedOnly (retry one step's failed tasks), not both`);
  }
  if (step !== undefined && !failedOnly) {
    throw new ValidationError(`${where}: step "${step}" needs failedOnly: true (retry only its failed tasks); to run it again from scratch, use from: '${step}'`);
  }
  if (failedOnly && step === undefined) {
    throw new ValidationError(`${where}: failedOnly needs step: '<step name>', the step whose failed tasks to retry`);
  }

  const request: RetryRequest = { workflowId };
  if (from !== undefined || step !== undefined) {
    const id = await declaredStepId(backend, workflowId, (from ?? step) as string, from !== undefined ? 'from' : 'step', where);
    if (from !== undefined) request.fromStepIds = [id];
    else request.onlyStepId = id;
  }
  return backend.retryWorkflow(request);
}

async function declaredStepId(backend: Backend, workflowId: string, name: string, option: string, where: string): Promise<string> {
  const steps = (await backend.getSteps(workflowId)).filter((step) => step.anchor === null);
  if (steps.length === 0 && (await backend.getWorkflow(workflowId)) === null) {
    throw refusalError({ code: 'ERR_NOT_FOUND', operation: 'retry', workflowId });
  }
  const found = steps.find((step) => step.name === name);
  if (found === undefined) {
    const names = [...steps].sort((a, b) => a.declIndex - b.declIndex).map((step) => JSON.stringify(step.name));
    throw new ValidationError(`${where}: workflow ${workflowId} has no step named "${name}" (option ${option}); its steps are: ${names.join(', ')}`);
  }
  return found.id;
}
