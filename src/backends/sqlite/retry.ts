/**
 * The retry transition of the embedded backend, run inside the caller's write transaction
 * (docs/backends/step-machine.md, "retry"; this file keeps none of that prose).
 */
import type { RetryRequest } from '../backend.js';
import { refusalError } from '../failures.js';
import { RETRYABLE_STATUSES } from '../policy.js';
import { AFTER_SLOT, jobId } from './rows.js';
import type { StepRow, WorkflowRow } from './rows.js';
import type { Statements } from './statements.js';
import type { StepMachine } from './step-machine.js';

/** Stages before `after`: a step resumed there runs its afterAll again (it saw the old tasks). */
const BEFORE_AFTER_HOOK = new Set(['before', 'before-children', 'tasks', 'tasks-children']);

const TERMINAL_STEP = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);

/** Applies a retry; returns the workflow's retry count. Throws the refusal when it may not. */
export function retryWorkflow(q: Statements, machine: StepMachine, request: RetryRequest): number {
  const { workflowId } = request;
  const workflow = q.getWorkflow.get(workflowId) as WorkflowRow | undefined;
  if (workflow === undefined) throw refusalError({ code: 'ERR_NOT_FOUND', operation: 'retry', workflowId });
  const from = request.fromStepIds ?? [];
  const only = request.onlyStepId;
  const targeted = from.length > 0 || only !== undefined;
  if (!RETRYABLE_STATUSES.includes(workflow.status)) {
    if (workflow.status !== 'succeeded') throw refusalError({ code: 'ERR_NOT_RETRYABLE', reason: 'unfinished', workflowId, status: workflow.status });
    if (!targeted) throw refusalError({ code: 'ERR_NOT_RETRYABLE', reason: 'succeeded', workflowId });
  }

  const steps = (q.stepsOfWorkflow.all(workflowId) as StepRow[]).filter((step) => step.anchor_pk === null);
  const byId = new Map(steps.map((step) => [step.id, step]));
  const named = (id: string): StepRow => {
    const step = byId.get(id);
    if (step === undefined) throw refusalError({ code: 'ERR_NOT_FOUND', workflowId, stepId: id });
    return step;
  };
  const fromSteps = from.map(named);
  const onlyStep = only === undefined ? undefined : named(only);
  if (onlyStep !== undefined && !RETRYABLE_STATUSES.includes(onlyStep.status)) {
    throw refusalError({ code: 'ERR_NOT_RETRYABLE', reason: 'step-not-failed', workflowId, step: onlyStep.name, stepId: onlyStep.id, status: onlyStep.status });
  }

  // What is taken up again: the only step; else the from steps and (unless the workflow succeeded) every step that did not succeed.
  const unsucceeded = workflow.status === 'succeeded' ? [] : steps.filter((step) => step.status !== 'succeeded');
  const seeds = onlyStep !== undefined ? [onlyStep] : [...fromSteps, ...unsucceeded];
  const fresh = dependents(q, fromSteps.map((s) => s.pk)).reached;
  const { reached, hasParent } = dependents(q, seeds.map((s) => s.pk));

  let opened = 0;
  const resumed: StepRow[] = [];
  for (const step of steps) {
    if (!reached.has(step.pk)) continue;
    // A step cut short by a cancel goes on at its current stage, like a failed step at its failed one.
    const cutShort = workflow.status === 'cancelled' && step.status === 'running';
    const resumable =
      !fresh.has(step.pk) && !hasParent.has(step.pk) && (cutShort || (RETRYABLE_STATUSES.includes(step.status) && step.failed_stage !== null));
    if (resumable) {
      opened += resume(q, step);
      resumed.push(step);
    } else {
      opened += resetFresh(q, step);
    }
  }
  const { retries } = q.reopenWorkflow.get({ id: workflowId, opened }) as { retries: number };
  machine.touch(workflowId);
  for (const step of resumed) {
    machine.work(machine.stepRow(step.pk));
    machine.advance(step.pk);
  }
  for (const step of steps) {
    if (reached.has(step.pk)) machine.evaluate(step.pk); // only waiting steps whose parents all ended
  }
  return retries;
}

/** The steps reached from `seeds` through dependency edges (the seeds included), and those reached from a parent. */
function dependents(q: Statements, seeds: number[]): { reached: Set<number>; hasParent: Set<number> } {
  const reached = new Set<number>(seeds);
  const hasParent = new Set<number>();
  const queue = [...reached];
  for (let pk = queue.pop(); pk !== undefined; pk = queue.pop()) {
    for (const { child_pk } of q.dependentsOf.all(pk) as { child_pk: number }[]) {
      hasParent.add(child_pk);
      if (!reached.has(child_pk)) {
        reached.add(child_pk);
        queue.push(child_pk);
      }
    }
  }
  return { reached, hasParent };
}

/** From scratch: waiting, every job fresh, its added steps too. Returns the steps it reopened. */
function resetFresh(q: Statements, step: { pk: number; status: string }): number {
  q.resetJobsFresh.run(jobId(step.pk, 0), jobId(step.pk, AFTER_SLOT));
  q.deleteRangeResultsOfStep.run(step.pk);
  q.deleteLeasesOfStep.run(step.pk);
  q.resetStepFresh.run(step.pk);
  let opened = TERMINAL_STEP.has(step.status) ? 1 : 0;
  for (const child of q.allChildrenOf.all(step.pk) as { pk: number; status: string }[]) opened += resetFresh(q, child);
  return opened;
}

/**
 * Takes a step up again at its failed stage (its current one, for a running step), as the retry
 * transition and "Run control" of docs/backends/step-machine.md say. Returns the steps it reopened.
 */
function resume(q: Statements, step: StepRow): number {
  const stage = step.failed_stage ?? step.stage;
  q.requeueUnfinishedJobs.run(jobId(step.pk, 0), jobId(step.pk, AFTER_SLOT));
  if (BEFORE_AFTER_HOOK.has(stage)) q.resetJob.run(jobId(step.pk, AFTER_SLOT));
  q.deleteLeasesOfStep.run(step.pk);
  q.resumeStep.run({ pk: step.pk, stage });
  let opened = step.status === 'running' ? 0 : 1; // a running step never closed
  for (const child of q.allChildrenOf.all(step.pk) as { pk: number; status: string }[]) {
    if (child.status !== 'succeeded') opened += resetFresh(q, child);
  }
  return opened;
}
