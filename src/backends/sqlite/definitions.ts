/**
 * Writing and removing workflow definitions in the embedded backend: steps with their hook
 * jobs and tasks (job ids placed in the step's range), and whole workflows.
 */
import { BackendError, NotFoundError, ValidationError } from '../../errors.js';
import type { NewStep } from '../backend.js';
import { AFTER_SLOT, BEFORE_SLOT, MAX_STEP_PK, MAX_TASKS_PER_STEP, SLOTS_PER_STEP, jobId } from './rows.js';
import type { StepRow } from './rows.js';
import type { Statements } from './statements.js';

/** Where a new step goes: its declaration index, and for addAfter its anchor. */
export interface StepPlacement {
  declIndex: number;
  anchorPk: number | null;
  anchorPhase: string | null;
  anchorSeq: number | null;
  parentId: string | null;
}

export class Definitions {
  constructor(private readonly q: Statements) {}

  requireStep(workflowId: string, stepId: string): StepRow {
    const step = this.q.stepById.get(workflowId, stepId) as StepRow | undefined;
    if (step === undefined) throw new NotFoundError(`step "${stepId}" of workflow ${workflowId} does not exist (was the workflow removed?)`);
    return step;
  }

  /** Inserts a step with its hook jobs and tasks; null when a step with that id exists. */
  insertStep(workflowId: string, step: NewStep, placement: StepPlacement): number | null {
    const row = this.q.insertStep.get({
      workflowId,
      id: step.id,
      name: step.name,
      handler: JSON.stringify(step.handler),
      data: step.dataJson,
      options: JSON.stringify(step.options),
      maxAttempts: step.options.taskMaxFailCount,
      retryDelay: step.options.taskFailRetryDelay,
      deps: JSON.stringify(step.deps),
      anchorPk: placement.anchorPk,
      anchorPhase: placement.anchorPhase,
      anchorSeq: placement.anchorSeq,
      parentId: placement.parentId,
      declIndex: placement.declIndex,
      hasBefore: step.handler.hasBeforeAll ? 1 : 0,
      hasAfter: step.handler.hasAfterAll ? 1 : 0,
    }) as { pk: number } | undefined;
    if (row === undefined) return null;
    if (row.pk > MAX_STEP_PK) {
      throw new BackendError(`this SQLite database holds the most steps it can number (${MAX_STEP_PK}); start a new database file`);
    }
    if (step.handler.hasBeforeAll) this.q.insertJob.run(jobId(row.pk, BEFORE_SLOT), 'null');
    if (step.handler.hasAfterAll) this.q.insertJob.run(jobId(row.pk, AFTER_SLOT), 'null');
    this.insertTasks(row.pk, step.tasksJson);
    return row.pk;
  }

  insertTasks(stepPk: number, tasksJson: readonly string[]): void {
    if (tasksJson.length === 0) return;
    const { next_seq } = this.q.reserveTaskSeq.get({ pk: stepPk, n: tasksJson.length }) as { next_seq: number };
    if (next_seq > MAX_TASKS_PER_STEP) {
      throw new ValidationError(`a step of the embedded backend holds at most ${MAX_TASKS_PER_STEP} tasks; split the work over several steps`);
    }
    const first = jobId(stepPk, next_seq - tasksJson.length + 1);
    const count = tasksJson.length;
    let i = 0;
    if (count >= 64) {
      const params: (number | string)[] = new Array<number | string>(128);
      for (; i + 64 <= count; i += 64) {
        for (let k = 0; k < 64; k++) {
          params[2 * k] = first + i + k;
          params[2 * k + 1] = tasksJson[i + k] as string;
        }
        this.q.insertJobs64.run(params);
      }
    }
    for (; i < count; i++) this.q.insertJob.run(first + i, tasksJson[i]);
  }

  deleteWorkflow(workflowId: string): boolean {
    for (const { pk } of this.q.stepPksOfWorkflow.all(workflowId) as { pk: number }[]) {
      this.q.deleteJobsOfStep.run(jobId(pk, 0), jobId(pk, SLOTS_PER_STEP - 1));
      this.q.deleteRangeResultsOfStep.run(pk);
    }
    this.q.deleteLeasesOfWorkflow.run(workflowId);
    this.q.deleteBatchesOfWorkflow.run(workflowId);
    this.q.deleteEdgesOfWorkflow.run(workflowId);
    this.q.deleteStepsOfWorkflow.run(workflowId);
    return this.q.deleteWorkflow.run(workflowId).changes > 0;
  }
}
