/**
 * The step machine of the embedded backend, run inside the caller's write transaction (so
 * every transition fires exactly once however many processes share the file). The rules,
 * states and records are specified in docs/backends/step-machine.md; this file keeps none
 * of that prose.
 *
 * Implementation notes: `advancing` is the set of steps whose advance loop is on the stack
 * (a child finishing must not re-enter its anchor's loop, which looks at the child itself when
 * control returns); `touchedWorkflows` are settled once, at the end of the transaction.
 */
import type { BackendEvent, NewEvent } from '../backend.js';
import type { RefusalRecord, StepFailedRecord, StoredError, TaskFailedRecord, WaitTimeoutRecord } from '../failures.js';
import type { JobKind, StepStage, StepStatus } from '../records.js';
import { readForDisplay, storedNumber, UNREADABLE } from '../stored-records.js';
import { AFTER_SLOT, BEFORE_SLOT, JOB_FAILED, JOB_SUCCEEDED, jobId, parseStored } from './rows.js';
import type { StepRow, WorkflowRow } from './rows.js';
import type { Statements } from './statements.js';

type ChildrenState = { state: 'done' } | { state: 'wait' } | { state: 'failed'; error: StoredError };

interface ChildRow {
  pk: number;
  status: StepStatus;
}

/** The stage in which a phase may add steps after itself (addAfter). */
const OPEN_STAGE_OF_PHASE = { before: 'before', task: 'tasks', after: 'after' } as const;

/** Why addTasks may not add to this step now, or null when it may. */
export function addTasksRefusal(step: StepRow): RefusalRecord | null {
  const open =
    (step.status === 'waiting' || step.status === 'running') &&
    (step.stage === 'before' || step.stage === 'before-children' || step.stage === 'tasks');
  if (open) return null;
  return { code: 'ERR_STEP_CLOSED', operation: 'addTasks', step: step.name, stepId: step.id, status: step.status, stage: step.stage };
}

/** Why addAfter from this phase of the anchor may not add steps now, or null when it may. */
export function addAfterRefusal(anchor: StepRow, phase: JobKind): RefusalRecord | null {
  if (anchor.status === 'running' && anchor.stage === OPEN_STAGE_OF_PHASE[phase]) return null;
  return { code: 'ERR_STEP_CLOSED', operation: 'addAfter', phase, step: anchor.name, stepId: anchor.id, status: anchor.status, stage: anchor.stage };
}

export class StepMachine {
  /** Steps whose advance loop is on the stack: a child finishing must not re-enter it. */
  private readonly advancing = new Set<number>();
  private readonly touchedWorkflows = new Set<string>();

  constructor(
    private readonly q: Statements,
    readonly now: number,
    readonly events: BackendEvent[],
  ) {}

  stepRow(pk: number): StepRow {
    const row = this.q.stepByPk.get(pk) as StepRow | undefined;
    if (row === undefined) throw new Error(`step #${pk} vanished during a transition`);
    return row;
  }

  /**
   * Starts a waiting step (once its timer, if any, is due) and runs its stages as far as they go
   * without a job; a step whose events have not all arrived is held back instead (receive starts it).
   */
  start(pk: number): void {
    const step = this.stepRow(pk);
    if (step.status !== 'waiting') return;
    if (!this.timerDue(step)) return;
    if (step.wait_for !== null && !this.eventsArrived(step)) {
      this.q.holdForEvents.run({ pk, now: this.now });
      return;
    }
    this.q.markWorkflowRunning.run({ id: step.workflow_id, now: this.now });
    this.q.startStep.run({ pk, now: this.now });
    this.touchedWorkflows.add(step.workflow_id);
    if (step.has_before === 1) this.work(step);
    this.advance(pk);
  }

  /**
   * A step with a delay or startAt: its due time is fixed the first time its turn comes (its
   * delay counted from then); until it is due it stays waiting, and idle nodes are woken to
   * learn when to look again (runnableSteps' nextRunAt).
   */
  private timerDue(step: StepRow): boolean {
    let readyAt = step.ready_at;
    if (readyAt === null) {
      if (step.delay_ms <= 0 && step.start_at === null) return true;
      readyAt = Math.max(step.start_at ?? 0, step.delay_ms > 0 ? this.now + step.delay_ms : 0);
      this.q.setReadyAt.run({ pk: step.pk, readyAt });
      if (readyAt > this.now) this.events.push({ type: 'wake' });
    }
    return readyAt <= this.now;
  }

  /** Re-examines a running step after a job of it finished. */
  advance(pk: number): void {
    if (this.advancing.has(pk)) return;
    this.advancing.add(pk);
    try {
      this.advanceLoop(pk);
    } finally {
      this.advancing.delete(pk);
    }
  }

  /**
   * receive: stores an event for a workflow that has not finished and starts the steps it
   * completes the events of. False when the workflow is unknown or finished, or the id known.
   */
  receive(workflowId: string, event: NewEvent): boolean {
    const workflow = this.q.getWorkflow.get(workflowId) as WorkflowRow | undefined;
    if (workflow === undefined || (workflow.status !== 'pending' && workflow.status !== 'running')) return false;
    const stored = this.q.insertWorkflowEvent.run({ workflowId, id: event.id, name: event.name, data: event.dataJson, now: this.now });
    if (stored.changes === 0) return false;
    this.events.push({ type: 'event', workflowId, eventId: event.id, name: event.name });
    for (const held of this.q.awaitingSteps.all(workflowId) as { pk: number; wait_for: string }[]) {
      if (waitedNames(held.wait_for).includes(event.name)) this.start(held.pk);
    }
    this.touchedWorkflows.add(workflowId);
    return true;
  }

  /** A held-back step whose waitTimeout ran out fails (ERR_TIMEOUT); its dependents evaluate. */
  expireWait(pk: number): void {
    const step = this.stepRow(pk);
    if (step.status !== 'waiting' || step.wait_due === null || step.wait_due > this.now) return;
    const record: WaitTimeoutRecord = {
      code: 'ERR_TIMEOUT',
      reason: 'wait-for-events',
      step: step.name,
      stepId: step.id,
      waitFor: waitedNames(step.wait_for),
      waitTimeout: step.wait_timeout ?? 0,
    };
    this.finish(step, 'failed', record);
  }

  private eventsArrived(step: StepRow): boolean {
    return waitedNames(step.wait_for).every((name) => this.q.eventArrived.get(step.workflow_id, name) !== undefined);
  }

  /** Decides every workflow touched by this transaction that has no open step left. */
  settleWorkflows(): void {
    for (const id of this.touchedWorkflows) {
      const workflow = this.q.getWorkflow.get(id) as WorkflowRow | undefined;
      if (workflow === undefined || workflow.open_steps > 0) continue;
      if (workflow.status !== 'pending' && workflow.status !== 'running' && workflow.status !== 'paused') continue;
      const failure = this.q.firstUnhandledFailure.get(id) as
        | { id: string; name: string; failed_stage: StepStage | null; error: string | null }
        | undefined;
      const status = failure === undefined ? 'succeeded' : 'failed';
      const error = failure === undefined ? null : stepFailed(failure);
      const keepMs = storedNumber(readForDisplay(workflow.options, UNREADABLE.workflowOptions).keepMs) ?? null; // corrupt: kept
      this.q.finishWorkflow.run({
        id,
        status,
        error: error === null ? null : JSON.stringify(error),
        now: this.now,
        expiresAt: keepMs === null ? null : this.now + keepMs,
      });
      this.events.push({ type: 'workflow', workflowId: id, status });
    }
  }

  /** Marks a step's workflow for settling (used when steps are added or counts change). */
  touch(workflowId: string): void {
    this.touchedWorkflows.add(workflowId);
  }

  private advanceLoop(pk: number): void {
    for (;;) {
      const step = this.stepRow(pk);
      if (step.status !== 'running') return;
      switch (step.stage) {
        case 'before': {
          if (step.has_before === 1) {
            const hook = this.hookState(jobId(pk, BEFORE_SLOT));
            if (hook.status === JOB_FAILED) return this.finish(step, 'failed', hook.error);
            if (hook.status !== JOB_SUCCEEDED) return;
          }
          this.setStage(step, 'before-children');
          continue;
        }
        case 'before-children': {
          const children = this.runChildren(step, 'before');
          if (children.state === 'wait') return;
          if (children.state === 'failed') return this.finish(step, 'failed', children.error);
          this.setStage(step, 'tasks');
          const { run_seq } = this.q.nextRunIndex.get({ id: step.workflow_id, now: this.now }) as { run_seq: number };
          this.q.setRunIndex.run(run_seq, step.pk);
          if (step.total > step.done + step.failed) this.work(step);
          continue;
        }
        case 'tasks': {
          if (step.done + step.failed < step.total) return;
          this.setStage(step, 'tasks-children');
          continue;
        }
        case 'tasks-children': {
          if (step.failing === null) {
            const children = this.runChildren(step, 'task');
            if (children.state === 'wait') return;
            if (children.state === 'failed') return this.finish(step, 'failed', children.error);
          } else {
            this.skipWaitingChildren(step);
          }
          this.setStage(step, 'after');
          if (step.has_after === 1) this.work(step);
          continue;
        }
        case 'after': {
          if (step.has_after === 1) {
            const hook = this.hookState(jobId(pk, AFTER_SLOT));
            if (hook.status === JOB_FAILED) return this.finish(step, 'failed', hook.error);
            if (hook.status !== JOB_SUCCEEDED) return;
          }
          this.setStage(step, 'after-children');
          continue;
        }
        case 'after-children': {
          if (step.failing === null) {
            const children = this.runChildren(step, 'after');
            if (children.state === 'wait') return;
            if (children.state === 'failed') return this.finish(step, 'failed', children.error);
            return this.finish(step, 'succeeded', null);
          }
          this.skipWaitingChildren(step);
          return this.finish(step, 'failed', tasksFailed(step), 'tasks');
        }
        case 'done':
          return;
      }
    }
  }

  /** Runs the children of one phase in order; reports whether they all succeeded yet. */
  private runChildren(step: StepRow, phase: JobKind): ChildrenState {
    const children = this.q.childrenOf.all(step.pk, phase) as ChildRow[];
    for (const child of children) {
      let status = child.status;
      if (status === 'waiting') {
        this.start(child.pk);
        status = this.stepRow(child.pk).status;
      }
      if (status === 'succeeded') continue;
      if (status === 'running' || status === 'waiting') return { state: 'wait' };
      return { state: 'failed', error: childFailed(this.stepRow(child.pk), step) };
    }
    return { state: 'done' };
  }

  private skipWaitingChildren(step: StepRow): void {
    for (const { pk } of this.q.waitingChildrenOf.all(step.pk) as { pk: number }[]) {
      this.finish(this.stepRow(pk), 'skipped', null);
    }
  }

  /** `failedStage`: where a failed step failed, when not the stage it is in (its tasks). */
  private finish(step: StepRow, status: StepStatus, error: StoredError | null, failedStage: StepStage = step.stage): void {
    this.q.finishStep.run({
      pk: step.pk,
      status,
      failedStage: status === 'failed' ? failedStage : null,
      error: error === null ? null : JSON.stringify(error),
      now: this.now,
    });
    this.q.addOpenSteps.run({ id: step.workflow_id, delta: -1 });
    this.q.deleteLeasesOfStep.run(step.pk);
    this.touchedWorkflows.add(step.workflow_id);
    this.events.push({ type: 'step', workflowId: step.workflow_id, stepId: step.id, status });
    // Steps added to a finished step can no longer run.
    this.skipWaitingChildren(step);

    if (step.anchor_pk !== null) {
      if (this.advancing.has(step.anchor_pk)) return; // the anchor's loop is looking at us
      const anchor = this.stepRow(step.anchor_pk);
      if (anchor.status !== 'running') return;
      if (status === 'succeeded') this.advance(anchor.pk);
      else this.finish(anchor, 'failed', childFailed(this.stepRow(step.pk), anchor));
      return;
    }
    for (const { child_pk } of this.q.dependentsOf.all(step.pk) as { child_pk: number }[]) {
      this.evaluate(child_pk);
    }
  }

  /** Starts or skips a waiting dependent once all its parents are terminal. */
  evaluate(pk: number): void {
    const step = this.stepRow(pk);
    if (step.status !== 'waiting') return;
    const parents = this.q.parentsOf.all(pk) as { on_cond: string; status: StepStatus }[];
    if (parents.some((p) => p.status === 'waiting' || p.status === 'running')) return;
    const condition = parents[0]?.on_cond ?? 'success';
    const runs =
      condition === 'always'
        ? true
        : condition === 'failure'
          ? parents.some((p) => p.status === 'failed')
          : parents.every((p) => p.status === 'succeeded');
    if (runs) this.start(pk);
    else this.finish(step, 'skipped', null);
  }

  private hookState(id: number): { status: number; error: StoredError | null } {
    const row = this.q.hookJob.get(id) as { status: number; error: string | null } | undefined;
    return row === undefined ? { status: JOB_SUCCEEDED, error: null } : { status: row.status, error: parseStored(row.error) };
  }

  private setStage(step: StepRow, stage: StepStage): void {
    this.q.setStage.run(stage, step.pk);
    step.stage = stage;
  }

  work(step: StepRow): void {
    this.events.push({ type: 'work', workflowId: step.workflow_id, stepId: step.id });
  }
}

/** The event names a step waits for (a corrupt list waits for nothing). */
function waitedNames(text: string | null): string[] {
  const names = readForDisplay<unknown>(text, []);
  return Array.isArray(names) ? names.filter((name): name is string => typeof name === 'string') : [];
}

function stepFailed(step: { id: string; name: string; failed_stage: StepStage | null; error: string | null }): StepFailedRecord {
  const cause = parseStored(step.error);
  return {
    code: 'ERR_STEP_FAILED',
    step: step.name,
    stepId: step.id,
    status: 'failed',
    ...(step.failed_stage === null ? {} : { stage: step.failed_stage }),
    ...(cause === null ? {} : { cause }),
  };
}

function childFailed(child: StepRow, anchor: StepRow): StepFailedRecord {
  const cause = parseStored(child.error);
  return {
    code: 'ERR_STEP_FAILED',
    step: child.name,
    stepId: child.id,
    status: child.status,
    ...(child.failed_stage === null ? {} : { stage: child.failed_stage }),
    anchorStep: anchor.name,
    anchorStepId: anchor.id,
    ...(cause === null ? {} : { cause }),
  };
}

function tasksFailed(step: StepRow): TaskFailedRecord {
  const first = readForDisplay<{ seq: number; error: StoredError } | null>(step.failing, null);
  return {
    code: 'ERR_TASK_FAILED',
    step: step.name,
    stepId: step.id,
    status: 'failed',
    stage: 'tasks',
    task: first?.seq ?? null,
    failed: step.failed,
    total: step.total,
    ...(first === null ? {} : { cause: first.error }),
  };
}
