/**
 * deflow: durable, distributed workflows for Node.js.
 *
 *   import DeFlow, { WorkFlow, StepHandler } from 'deflow';
 */
import { DeFlow } from './api/deflow.js';

export default DeFlow;
export { DeFlow };
export type { DeFlowEvents, DeFlowState } from './api/deflow.js';
export { WorkFlow, WorkflowCancelledError, WorkflowFailedError } from './api/workflow.js';
export type { AddStepParams, NextTaskInfo, RetryOptions, StepFinishedInfo, WorkflowEventMap, WorkflowHandleState } from './api/workflow.js';
export { StepHandler } from './api/step-handler.js';
export { defineWorkflow, WorkflowDefinition } from './api/define-workflow.js';
export type { DefineWorkflowOptions } from './api/define-workflow.js';
export type { DefinitionInfo, StartOptions } from './api/definition-registry.js';
export type { ScheduleInfo, ScheduleOptions } from './api/schedules/schedule-options.js';
export type { StepHandlerDefinition } from './api/step-handler.js';
export { Step, formatPercent } from './api/step.js';
export type { AddAfterParams, StepProgress } from './api/step.js';
export type { AddTasksOptions } from './api/step-timer.js';
export { Task } from './api/task.js';
export type { TaskError } from './api/task.js';
export type { StepResult, WorkflowResult } from './api/results.js';
export type { StepSummary } from './api/step-summary.js';
export type { EmitOptions, GlobalEmitOptions, WorkflowEvent } from './api/events.js';
export type { StepSource } from './api/step-source.js';
export { DEFAULT_STEP_OPTIONS } from './api/options.js';
export type { KeyedRateLimit, RateLimitOptions, RegisterOptions, RetryBackoff, StepOptions, WorkflowOptions } from './api/options.js';
export type { RedisConnectionOptions } from './backends/registry.js';
export type { DependencyCondition, JobStatus, StepStatus, WorkflowStatus } from './backends/records.js';
export {
  BackendError,
  CorruptRecordError,
  BackendUnavailableError,
  DeflowError,
  LeaseLostError,
  NodeLostError,
  NotFoundError,
  NotRegisteredError,
  NotRetryableError,
  StepClosedError,
  StepModuleError,
  TimeoutError,
  ValidationError,
  WorkflowConflictError,
  WorkflowDefinitionError,
} from './errors.js';
export type { SerializedError } from './errors.js';

// The worker pool, also importable alone as 'deflow/pool'. Its shared errors (DeflowError,
// ValidationError, TimeoutError) are the same classes as above.
export * from './pool/index.js';
