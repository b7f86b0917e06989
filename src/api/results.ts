/** The finished picture of a workflow: steps in execution order, each with its tasks. */
import type { Backend } from '../backends/backend.js';
import type { StepStatus, WorkflowRecord, WorkflowStatus } from '../backends/records.js';
import type { SerializedError } from '../errors.js';
import type { StepOptions } from './options.js';
import { formatPercent, stepFromRecord } from './step.js';
import type { StepProgress } from './step.js';
import type { Task } from './task.js';

export interface StepResult {
  id: string;
  /** `<workflowId>:<stepId>` */
  key: string;
  name: string;
  /** Execution order (0-based); -1 for a step that never started. */
  index: number;
  status: StepStatus;
  parentKey: string | undefined;
  data: unknown;
  options: StepOptions;
  error: SerializedError | null;
  progress: StepProgress;
  startedAt: number | null;
  finishedAt: number | null;
  tasks: Task[];
}

export interface WorkflowResult {
  id: string;
  name: string;
  status: WorkflowStatus;
  /** Why the workflow failed, when it did. */
  error: SerializedError | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Steps in execution order; steps that never ran (skipped) come last. */
  steps: StepResult[];
}

export async function loadWorkflowResult(backend: Backend, record: WorkflowRecord): Promise<WorkflowResult> {
  const steps = await backend.getSteps(record.id);
  const results: StepResult[] = [];
  for (const record of steps) {
    const step = stepFromRecord(record, backend);
    const done = record.counts.done + record.counts.failed;
    results.push({
      id: step.id,
      key: step.key,
      name: step.name,
      index: step.index,
      status: record.status,
      parentKey: step.parentKey,
      data: step.data,
      options: step.options,
      error: record.error,
      progress: { done, failed: record.counts.failed, total: record.counts.total, percent: formatPercent(done, record.counts.total) },
      startedAt: record.startedAt,
      finishedAt: record.finishedAt,
      tasks: await step.getResults(),
    });
  }
  return {
    id: record.id,
    name: record.name,
    status: record.status,
    error: record.error,
    createdAt: record.createdAt,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    steps: results,
  };
}
