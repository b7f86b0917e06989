/**
 * The finished picture of a workflow: steps in execution order, each with its summary, and its
 * tasks when the step is small enough to hold them (bigger ones are read page by page).
 */
import type { Backend } from '../backends/backend.js';
import type { StepStatus, WorkflowRecord, WorkflowStatus } from '../backends/records.js';
import type { SerializedError } from '../errors.js';
import type { StepOptions } from './options.js';
import { formatPercent, stepFromRecord } from './step.js';
import type { StepProgress } from './step.js';
import type { Task } from './task.js';
import { summarize } from './step-summary.js';
import type { StepSummary } from './step-summary.js';

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
  /** Counts by status and the first errors of failed tasks: always there, whatever the step's size. */
  summary: StepSummary;
  /**
   * Every task, in task order, when the step has at most `resultTasks` (register option, default
   * 10,000; `tasksLoaded` true); empty for a bigger step (`tasksLoaded` false): page through
   * those with `workflow.iterateResults(step)`.
   */
  tasks: Task[];
  tasksLoaded: boolean;
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

/** `resultTasks`: most tasks of one step loaded into `tasks` (register option of the same name). */
export async function loadWorkflowResult(backend: Backend, record: WorkflowRecord, resultTasks: number): Promise<WorkflowResult> {
  const steps = await backend.getSteps(record.id);
  const results: StepResult[] = [];
  for (const record of steps) {
    const step = stepFromRecord(record, backend);
    const done = record.counts.done + record.counts.failed;
    // A huge step's tasks stay in the store: loading a million of them would take the node's memory.
    const tasksLoaded = record.counts.total <= resultTasks;
    const tasks: Task[] = [];
    if (tasksLoaded) for await (const task of step.iterateResults()) tasks.push(task);
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
      summary: await summarize(record.counts, tasksLoaded ? tasks : step.iterateResults()),
      tasks,
      tasksLoaded,
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
