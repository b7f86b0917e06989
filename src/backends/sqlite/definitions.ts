/**
 * Workflow definitions in the embedded backend, inside the caller's write transaction:
 * creating workflows, adding steps (addAfter) and tasks (addTasks), removing workflows. Steps
 * are written with their hook jobs and tasks (job ids placed in the step's range).
 */
import { BackendError, ValidationError } from '../../errors.js';
import type { NewAnchoredSteps, NewStep, NewTasks, NewWorkflow } from '../backend.js';
import { refusalError } from '../failures.js';
import { AFTER_SLOT, BEFORE_SLOT, MAX_STEP_PK, MAX_TASKS_PER_STEP, SLOTS_PER_STEP, jobId, slotOf } from './rows.js';
import type { StepRow } from './rows.js';
import type { Statements } from './statements.js';
import { addAfterRefusal, addTasksRefusal } from './step-machine.js';
import type { StepMachine } from './step-machine.js';

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

  /** Stores a workflow and starts its root steps; false when one with this id exists. */
  createWorkflow(workflow: NewWorkflow, machine: StepMachine, now: number): boolean {
    const inserted = this.q.insertWorkflow.run({
      id: workflow.id,
      name: workflow.name,
      key: workflow.key ?? null,
      options: JSON.stringify(workflow.options),
      now,
      watch: workflow.watchNextTask ? 1 : 0,
      openSteps: workflow.steps.length,
    });
    if (inserted.changes === 0) return false;
    // Only once this one is created: a start that finds its id taken removes nothing.
    if (workflow.replaceByName) {
      for (const { id } of this.q.idsByNameExcept.all({ name: workflow.name, id: workflow.id }) as { id: string }[]) {
        this.deleteWorkflow(id);
      }
    }
    const pks = new Map<string, number>();
    workflow.steps.forEach((step, declIndex) => {
      const pk = this.insertStep(workflow.id, step, { declIndex, anchorPk: null, anchorPhase: null, anchorSeq: null, parentId: null });
      if (pk === null) throw refusalError({ code: 'ERR_VALIDATION', reason: 'duplicate-step-id', workflowId: workflow.id, stepId: step.id });
      pks.set(step.id, pk);
    });
    for (const step of workflow.steps) {
      for (const dep of step.deps) {
        const parentPk = pks.get(dep.stepId);
        if (parentPk === undefined) {
          throw refusalError({
            code: 'ERR_VALIDATION',
            reason: 'unknown-dependency',
            workflowId: workflow.id,
            step: step.name,
            stepId: step.id,
            dependsOn: dep.stepId,
          });
        }
        this.q.insertEdge.run(parentPk, pks.get(step.id), dep.on);
      }
    }
    machine.touch(workflow.id);
    for (const step of workflow.steps) {
      if (step.deps.length === 0) machine.start(pks.get(step.id) ?? -1);
    }
    return true;
  }

  /** addAfter: inserts steps after a phase of their anchor, in call order; returns how many were new. */
  addAnchoredSteps(input: NewAnchoredSteps, machine: StepMachine): number {
    const anchor = this.requireStep(input.workflowId, input.anchorStepId);
    const refused = addAfterRefusal(anchor, input.phase);
    if (refused !== null) throw refusalError(refused);
    let declIndex = (this.q.nextDeclIndex.get(input.workflowId) as { next: number }).next;
    let added = 0;
    for (const step of input.steps) {
      const { child_seq } = this.q.reserveChildSeq.get(anchor.pk) as { child_seq: number };
      const pk = this.insertStep(input.workflowId, step, {
        declIndex: declIndex++,
        anchorPk: anchor.pk,
        anchorPhase: input.phase,
        anchorSeq: child_seq,
        parentId: anchor.id,
      });
      if (pk === null) continue; // already added by an earlier attempt of the same hook
      this.q.addOpenSteps.run({ id: input.workflowId, delta: 1 });
      added++;
    }
    machine.touch(input.workflowId);
    return added;
  }

  /** addTasks: appends tasks to a step that has not finished its tasks stage. */
  addTasks(input: NewTasks, machine: StepMachine, now: number): { added: number; total: number } {
    const step = this.requireStep(input.workflowId, input.stepId);
    const refused = addTasksRefusal(step);
    if (refused !== null) throw refusalError(refused);
    if (input.batchKey !== undefined && this.q.batchApplied.run(step.pk, input.batchKey).changes === 0) {
      return { added: 0, total: step.total };
    }
    const first = this.insertTasks(step.pk, input.tasksJson, input.taskBuckets, input.taskRateBuckets);
    const delayMs = input.delayMs ?? 0;
    if (delayMs > 0 && input.tasksJson.length > 0) {
      this.q.delayJobs.run({ runAt: now + delayMs, lo: first, hi: first + input.tasksJson.length - 1 });
      this.q.skipDelayedJobs.run({ pk: step.pk, cursor: slotOf(first) - 1 });
      machine.events.push({ type: 'wake' }); // idle nodes learn the new due time (runnableSteps' nextRunAt)
    } else if (step.status === 'running' && step.stage === 'tasks' && input.tasksJson.length > 0) {
      machine.events.push({ type: 'work', workflowId: input.workflowId, stepId: input.stepId });
    }
    return { added: input.tasksJson.length, total: step.total + input.tasksJson.length };
  }

  private requireStep(workflowId: string, stepId: string): StepRow {
    const step = this.q.stepById.get(workflowId, stepId) as StepRow | undefined;
    if (step === undefined) throw refusalError({ code: 'ERR_NOT_FOUND', workflowId, stepId });
    return step;
  }

  /** Inserts a step with its hook jobs and tasks; null when a step with that id exists. */
  private insertStep(workflowId: string, step: NewStep, placement: StepPlacement): number | null {
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
      delayMs: step.delayMs ?? 0,
      startAt: step.startAt ?? null,
      anchorPk: placement.anchorPk,
      anchorPhase: placement.anchorPhase,
      anchorSeq: placement.anchorSeq,
      parentId: placement.parentId,
      declIndex: placement.declIndex,
      hasBefore: step.handler.hasBeforeAll ? 1 : 0,
      hasAfter: step.handler.hasAfterAll ? 1 : 0,
      waitFor: step.options.waitFor !== undefined && step.options.waitFor.length > 0 ? JSON.stringify(step.options.waitFor) : null,
      waitTimeout: step.options.waitTimeout ?? null,
      globalLimit: step.options.globalConcurrency ?? null,
      keyLimit: step.options.keyConcurrency ?? null,
    }) as { pk: number } | undefined;
    if (row === undefined) return null;
    if (row.pk > MAX_STEP_PK) {
      throw new BackendError(`this SQLite database holds the most steps it can number (${MAX_STEP_PK}); start a new database file`);
    }
    if (step.handler.hasBeforeAll) this.q.insertJob.run(jobId(row.pk, BEFORE_SLOT), 'null');
    if (step.handler.hasAfterAll) this.q.insertJob.run(jobId(row.pk, AFTER_SLOT), 'null');
    this.insertTasks(row.pk, step.tasksJson, step.taskBuckets, step.taskRateBuckets);
    return row.pk;
  }

  private insertTasks(
    stepPk: number,
    tasksJson: readonly string[],
    buckets: readonly (string | null)[] | undefined,
    rateBuckets: readonly (string | null)[] | undefined,
  ): number {
    if (tasksJson.length === 0) return 0;
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
    for (let k = 0; buckets !== undefined && k < count; k++) {
      const bucket = buckets[k];
      if (bucket !== null && bucket !== undefined) this.q.setBucket.run(bucket, first + k);
    }
    for (let k = 0; rateBuckets !== undefined && k < count; k++) {
      const bucket = rateBuckets[k];
      if (bucket !== null && bucket !== undefined) this.q.setRateBucket.run(bucket, first + k);
    }
    return first;
  }

  deleteWorkflow(workflowId: string): boolean {
    for (const { pk } of this.q.stepPksOfWorkflow.all(workflowId) as { pk: number }[]) {
      this.q.deleteJobsOfStep.run(jobId(pk, 0), jobId(pk, SLOTS_PER_STEP - 1));
      this.q.deleteRangeResultsOfStep.run(pk);
    }
    this.q.deleteLeasesOfWorkflow.run(workflowId);
    this.q.deleteEventsOfWorkflow.run(workflowId);
    this.q.deleteBatchesOfWorkflow.run(workflowId);
    this.q.deleteEdgesOfWorkflow.run(workflowId);
    this.q.deleteStepsOfWorkflow.run(workflowId);
    return this.q.deleteWorkflow.run(workflowId).changes > 0;
  }
}
