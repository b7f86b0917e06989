/**
 * Steps whose stored record a node cannot use (the backend marked them `corrupt`: their handler
 * reference or options are not JSON, or not the right shape). Nobody can run them, and left
 * alone they would hold their workflow open forever: the node claims their jobs like any
 * others and fails each for good with a CorruptRecordError, so the step and its workflow fail
 * with an error that says what is wrong, and every other workflow goes on.
 */
import type { RunnableStep } from '../backends/backend.js';
import { CorruptRecordError } from '../errors.js';
import type { RegisteredHandler } from './handler-registry.js';

/** The error every job of a corrupt step fails with. */
export function corruptStepError(step: RunnableStep): CorruptRecordError {
  const field = step.corrupt?.field ?? 'record';
  const reason = step.corrupt?.reason ?? 'unreadable';
  return new CorruptRecordError(
    `step "${step.name}" (id ${step.stepId}) of workflow ${step.workflowId} cannot run: the ${field} field of its stored record is unusable (${reason}); ` +
      'the store was written by something other than deflow (or damaged). Run the workflow again.',
    { workflowId: step.workflowId, stepId: step.stepId, field },
  );
}

/** A handler whose every phase fails with the step's CorruptRecordError. */
export function corruptStepHandler(step: RunnableStep): RegisteredHandler {
  const fail = (): never => {
    throw corruptStepError(step);
  };
  return {
    key: step.handler.key,
    name: step.name,
    moduleUrl: undefined,
    shareableModuleUrl: undefined,
    definedAt: undefined,
    entryUrl: undefined,
    beforeAll: fail,
    handler: fail,
    afterAll: fail,
  };
}
