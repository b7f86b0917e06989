/**
 * Run control (docs/backends/step-machine.md#run-control): cancel, pause and resume, by the
 * handle and by id. A cancelled workflow claims nothing, its running attempts abort, their
 * late results are refused, afterEach / afterAll never run, done() rejects in every process
 * with a WorkflowCancelledError; a paused one claims nothing until resumed, and what ran
 * meanwhile is recorded. Finished workflows do not change (false).
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { NotFoundError, StepHandler, ValidationError, WorkFlow, WorkflowCancelledError, WorkflowFailedError } from '../../src/index.js';
import type { Backend, ClaimedJob, JobOutcome } from '../../src/backends/backend.js';
import { cancelledRecord } from '../../src/backends/failures.js';
import type { WorkflowResult } from '../../src/index.js';
import { spinForever, whereAmI } from '../fixtures/steps/isolated.js';
import type { Conformance } from './context.js';
import { eventually, sleep } from './context.js';

/** What the blocking handler saw, per test (one test runs at a time in a file). */
const seen = { started: 0, abortedAfterMs: -1, afterEach: 0, afterAll: 0, onError: 0 };
let releaseBlocked: (() => void) | null = null;

/** Task 1 waits for its signal (or a release); the others return at once. */
const blocking = new StepHandler<unknown, number, number>({
  name: 'run-control-blocking',
  options: { taskConcurrency: 1 },
  handler(task) {
    if (task.data !== 1) return task.data;
    seen.started = Date.now();
    return new Promise<number>((resolve, reject) => {
      releaseBlocked = () => resolve(1);
      task.signal.addEventListener('abort', () => {
        seen.abortedAfterMs = Date.now() - seen.started;
        reject(task.signal.reason as Error);
      });
    });
  },
  afterEach() {
    seen.afterEach++;
  },
  afterAll() {
    seen.afterAll++;
  },
  onHandlerError() {
    seen.onError++;
  },
});
const echo = new StepHandler<unknown, number, number>({ name: 'run-control-echo', handler: (task) => task.data });

/** Calls per task; tasks above 3 wait for their signal while `holding` (a cancel cuts them short). */
const runs = new Map<number, number>();
let holding = true;
const halfway = new StepHandler<unknown, number, number>({
  name: 'run-control-halfway',
  options: { taskConcurrency: 6 },
  handler(task) {
    runs.set(task.data, (runs.get(task.data) ?? 0) + 1);
    if (task.data <= 3 || !holding) return task.data;
    return new Promise<number>((_resolve, reject) => {
      task.signal.addEventListener('abort', () => reject(task.signal.reason as Error));
    });
  },
});

function reset(): void {
  Object.assign(seen, { started: 0, abortedAfterMs: -1, afterEach: 0, afterAll: 0, onError: 0 });
  releaseBlocked = null;
}

async function backendOf(): Promise<Backend> {
  return (await DeFlow.getInstance().services()).backend;
}

async function settled(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** A one-step workflow this process does not run (worker: false): the test drives it through the contract. */
async function idleWorkflow(tasks: number[]): Promise<string> {
  const workflow = WorkFlow.create('run-control-by-hand').addStep({ name: 'manual', step: echo, tasks }).run();
  await workflow.started();
  return workflow.id;
}

function outcome(job: ClaimedJob, status: 'succeeded' | 'retry', retryDelayMs = 0): JobOutcome {
  const lease = { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token };
  return status === 'succeeded'
    ? { ...lease, status, resultJson: String(job.seq), error: null }
    : { ...lease, status, retryDelayMs, error: { name: 'Error', message: 'again' } };
}

export function runControl(t: Conformance): void {
  describe('Run control: cancel, pause, resume', () => {
    it('cancels a running workflow: its attempt aborts, no hook runs after it, done() rejects, "done" says cancelled', async () => {
      reset();
      await t.register();
      const workflow = WorkFlow.create('run-control-cancel')
        .addStep({ name: 'blocked', step: blocking, tasks: [1, 2, 3] })
        .addStep({ name: 'next', step: echo, tasks: [1] })
        .run();
      const ended = new Promise<WorkflowResult>((resolve) => workflow.once('done', resolve));
      const done = settled(workflow.done());
      await eventually(() => (seen.started > 0 ? true : undefined));
      expect(await workflow.cancel('operator said stop')).toBe(true);
      await eventually(() => (seen.abortedAfterMs >= 0 ? true : undefined), 5_000, 10);
      expect(seen.abortedAfterMs).toBeLessThan(500);

      const error = await done;
      expect(error).toBeInstanceOf(WorkflowCancelledError);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect(error).toMatchObject({ code: 'ERR_WORKFLOW_CANCELLED', status: 'cancelled', reason: 'operator said stop' });
      expect((await ended).status).toBe('cancelled');

      const record = await workflow.refresh();
      expect(record.status).toBe('cancelled');
      expect(record.finishedAt).not.toBeNull();
      expect(record.error).toMatchObject({
        name: 'WorkflowCancelledError',
        code: 'ERR_WORKFLOW_CANCELLED',
        message: `workflow ${workflow.id} was cancelled: operator said stop`,
        reason: 'operator said stop',
      });
      // Nothing else of it runs: no other task, no side hook of the aborted one, no afterAll, no next step.
      const steps = await (await backendOf()).getSteps(workflow.id);
      expect(steps.map((step) => [step.name, step.status, step.counts.done])).toEqual([
        ['blocked', 'running', 0],
        ['next', 'waiting', 0],
      ]);
      expect(seen).toMatchObject({ afterEach: 0, afterAll: 0, onError: 0 });

      // A finished workflow does not change, and says so.
      expect(await workflow.cancel()).toBe(false);
      expect(await workflow.pause()).toBe(false);
      expect(await workflow.resume()).toBe(false);
      expect((await workflow.refresh()).error?.message).toBe(`workflow ${workflow.id} was cancelled: operator said stop`);
    });

    it('frees the worker of an isolated attempt that never returns when its workflow is cancelled', async () => {
      await t.register({ poolSize: 1 });
      const spinning = WorkFlow.create('run-control-spin').addStep({ name: 'spin', step: spinForever, tasks: [1], options: { isolation: 'thread' } }).run();
      await spinning.started();
      const backend = await backendOf();
      // Claimed: its task is leased (not ready any more) once the worker runs it.
      await eventually(async () => ((await backend.runnableSteps(10)).steps.some((step) => step.workflowId === spinning.id) ? undefined : true));
      expect(await spinning.cancel()).toBe(true);
      expect(await settled(spinning.done())).toBeInstanceOf(WorkflowCancelledError);
      // The pool's only worker was replaced: the next isolated task runs.
      const next = await WorkFlow.create('run-control-after-spin')
        .addStep({ step: whereAmI, tasks: [2], data: { label: 'next' }, options: { isolation: 'thread' } })
        .run()
        .done();
      expect(next.steps[0]?.tasks[0]?.result).toMatchObject({ square: 4, label: 'next' });
    });

    it('refuses the late results of a cancelled workflow and claims nothing of it again', async () => {
      await t.register({ worker: false });
      const backend = await backendOf();
      const workflowId = await idleWorkflow([1, 2, 3, 4]);
      await backend.registerNode({ id: 'late', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      // One job leased alone (a retried task), the rest in a range.
      const first = await backend.claim({ nodeId: 'late', workflowId, stepId: '1', limit: 1 });
      await backend.complete({ outcomes: first.jobs.map((job) => outcome(job, 'retry')) });
      const { jobs } = await backend.claim({ nodeId: 'late', workflowId, stepId: '1', limit: 10 });
      expect(jobs.map((job) => job.seq)).toEqual([1, 2, 3, 4]);

      const cancelled = await backend.controlWorkflow({ workflowId, action: 'cancel', errorJson: JSON.stringify(cancelledRecord(workflowId)) });
      expect(cancelled).toMatchObject({ changed: true, status: 'cancelled' });
      expect(cancelled?.events).toContainEqual({ type: 'workflow', workflowId, status: 'cancelled' });

      const late = await backend.complete({ outcomes: jobs.map((job) => outcome(job, 'succeeded')) });
      expect([...late.stale].sort()).toEqual(jobs.map((job) => job.id).sort());
      expect((await backend.claim({ nodeId: 'late', workflowId, stepId: '1', limit: 10 })).jobs).toEqual([]);
      expect((await backend.runnableSteps(10)).steps.filter((step) => step.workflowId === workflowId)).toEqual([]);
      const tasks = await backend.getTasks(workflowId, '1', { afterSeq: 0, limit: 10 });
      expect(tasks.filter((task) => task.status === 'succeeded')).toEqual([]);
      expect(await backend.getWorkflow(workflowId)).toMatchObject({ status: 'cancelled', error: { code: 'ERR_WORKFLOW_CANCELLED' } });
      expect(await backend.controlWorkflow({ workflowId, action: 'cancel' })).toMatchObject({ changed: false, status: 'cancelled' });
    });

    it('refuses late results from before a cancel and a retry from scratch: fencing tokens only grow', async () => {
      await t.register({ worker: false });
      const backend = await backendOf();
      const workflowId = await idleWorkflow([1, 2]);
      await backend.registerNode({ id: 'old', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      // Task 1 leased alone with its token: claimed in a range, retried, claimed again.
      const leaseAlone = async (): Promise<ClaimedJob> => {
        const first = await backend.claim({ nodeId: 'old', workflowId, stepId: '1', limit: 1 });
        await backend.complete({ outcomes: first.jobs.map((job) => outcome(job, 'retry')) });
        const [job] = (await backend.claim({ nodeId: 'old', workflowId, stepId: '1', limit: 1 })).jobs;
        expect(job?.seq).toBe(1);
        return job as ClaimedJob;
      };
      const old = await leaseAlone();
      expect(old.token).toBeGreaterThan(0);
      // Task 2 leased in a range.
      const [oldRanged] = (await backend.claim({ nodeId: 'old', workflowId, stepId: '1', limit: 1 })).jobs;
      expect(oldRanged?.seq).toBe(2);
      await backend.controlWorkflow({ workflowId, action: 'cancel', errorJson: JSON.stringify(cancelledRecord(workflowId)) });
      await backend.retryWorkflow({ workflowId, fromStepIds: ['1'] });
      const again = await leaseAlone();
      expect(again.token).toBeGreaterThan(old.token);
      const [ranged] = (await backend.claim({ nodeId: 'old', workflowId, stepId: '1', limit: 1 })).jobs;
      expect(ranged?.seq).toBe(2);

      const late = await backend.complete({ outcomes: [outcome(old, 'succeeded'), outcome(oldRanged as ClaimedJob, 'succeeded')] });
      expect([...late.stale].sort()).toEqual([old.id, oldRanged?.id].sort());
      expect((await backend.getTasks(workflowId, '1', { afterSeq: 0, limit: 2 })).map((task) => task.status)).not.toContain('succeeded');
      expect((await backend.complete({ outcomes: [outcome(again, 'succeeded'), outcome(ranged as ClaimedJob, 'succeeded')] })).stale).toEqual([]);
      expect((await backend.getWorkflow(workflowId))?.status).toBe('succeeded');
    });

    it('pauses: nothing is claimed, what runs is recorded, a retry that fell due meanwhile runs on resume', async () => {
      await t.register({ worker: false });
      const backend = await backendOf();
      const workflowId = await idleWorkflow([1, 2]);
      await backend.registerNode({ id: 'pauser', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      const { jobs } = await backend.claim({ nodeId: 'pauser', workflowId, stepId: '1', limit: 1 });
      expect(jobs.map((job) => job.seq)).toEqual([1]);

      expect(await DeFlow.pause(workflowId)).toBe(true);
      expect(await DeFlow.pause(workflowId)).toBe(false);
      expect((await backend.getWorkflow(workflowId))?.status).toBe('paused');
      expect((await backend.claim({ nodeId: 'pauser', workflowId, stepId: '1', limit: 10 })).jobs).toEqual([]);

      // The running attempt finishes and is recorded: a failed attempt, retried after 30 ms.
      const recorded = await backend.complete({ outcomes: jobs.map((job) => outcome(job, 'retry', 30)) });
      expect(recorded.stale).toEqual([]);
      const due = (await backend.now()) + 30;
      await eventually(async () => ((await backend.now()) > due ? true : undefined), 5_000, 10);
      expect((await backend.claim({ nodeId: 'pauser', workflowId, stepId: '1', limit: 10 })).jobs).toEqual([]);
      expect((await backend.runnableSteps(10)).steps.filter((step) => step.workflowId === workflowId)).toEqual([]);

      const resumed = await backend.controlWorkflow({ workflowId, action: 'resume' });
      expect(resumed).toMatchObject({ changed: true, status: 'running' });
      expect(resumed?.events).toContainEqual({ type: 'work', workflowId, stepId: '1' });
      expect(await DeFlow.resume(workflowId)).toBe(false);
      const again = await backend.claim({ nodeId: 'pauser', workflowId, stepId: '1', limit: 10 });
      expect(again.jobs.map((job) => [job.seq, job.failedCount])).toEqual([
        [1, 1],
        [2, 0],
      ]);
      await backend.complete({ outcomes: again.jobs.map((job) => outcome(job, 'succeeded')) });
      expect((await backend.getWorkflow(workflowId))?.status).toBe('succeeded');
      expect(await DeFlow.pause(workflowId)).toBe(false);
      expect(await DeFlow.cancel(workflowId)).toBe(false);
    });

    it('pauses a running workflow on a node: the running task finishes, the next waits for resume', async () => {
      reset();
      await t.register();
      const workflow = WorkFlow.create('run-control-pause').addStep({ name: 'blocked', step: blocking, tasks: [1, 2] }).run();
      await eventually(() => (seen.started > 0 && releaseBlocked !== null ? true : undefined));
      expect(await workflow.pause()).toBe(true);
      releaseBlocked?.();
      const backend = await backendOf();
      await eventually(async () => ((await backend.getTasks(workflow.id, '1', { afterSeq: 0, limit: 1 }))[0]?.status === 'succeeded' ? true : undefined));
      await sleep(300); // a node that ignored the pause would claim task 2 in this time
      expect((await backend.getTasks(workflow.id, '1', { afterSeq: 1, limit: 1 }))[0]?.status).not.toBe('succeeded');
      expect((await workflow.refresh()).status).toBe('paused');
      expect(await workflow.resume()).toBe(true);
      const result = await workflow.done();
      expect(result.status).toBe('succeeded');
      expect(seen.afterAll).toBe(1);
    });

    it('retries a cancelled workflow: a step cut short goes on at its stage, its succeeded tasks are not run again', async () => {
      runs.clear();
      holding = true;
      await t.register();
      const workflow = WorkFlow.create('run-control-retry-cut').addStep({ name: 'half', step: halfway, tasks: [1, 2, 3, 4, 5, 6] }).addStep({ name: 'next', step: echo, tasks: [7] }).run();
      const backend = await backendOf();
      await eventually(async () => {
        const tasks = await backend.getTasks(workflow.id, '1', { afterSeq: 0, limit: 10 });
        return tasks.filter((task) => task.status === 'succeeded').length === 3 && runs.size === 6 ? true : undefined;
      });
      expect(await workflow.cancel()).toBe(true);
      expect(await settled(workflow.done())).toBeInstanceOf(WorkflowCancelledError);
      expect((await backend.getSteps(workflow.id)).map((step) => [step.name, step.status, step.stage])).toEqual([
        ['half', 'running', 'tasks'],
        ['next', 'waiting', 'before'],
      ]);

      holding = false;
      await DeFlow.retry(workflow.id);
      // The handle made before the cancel follows the new run.
      const result = await workflow.done();
      expect(result.status).toBe('succeeded');
      expect(result.steps.map((step) => step.tasks.map((task) => task.result))).toEqual([[1, 2, 3, 4, 5, 6], [7]]);
      expect([1, 2, 3, 4, 5, 6].map((data) => runs.get(data))).toEqual([1, 1, 1, 2, 2, 2]);
      const half = (await backend.getTasks(workflow.id, '1', { afterSeq: 3, limit: 10 })).map((task) => [task.failedCount, task.lostCount]);
      expect(half).toEqual([
        [0, 0],
        [0, 0],
        [0, 0],
      ]);
    });

    it('says what was wrong: an unknown id, a bad reason', async () => {
      await t.register({ worker: false });
      const unknown = await settled(DeFlow.cancel('no-such-workflow'));
      expect(unknown).toBeInstanceOf(NotFoundError);
      expect((unknown as Error).message).toBe('DeFlow.cancel(): workflow no-such-workflow does not exist (it was removed, or never started); nothing to cancel');
      expect(await settled(DeFlow.pause('no-such-workflow'))).toBeInstanceOf(NotFoundError);
      expect(await settled(DeFlow.resume(''))).toBeInstanceOf(ValidationError);
      const workflowId = await idleWorkflow([1]);
      expect(await settled(DeFlow.cancel(workflowId, 42 as unknown as string))).toBeInstanceOf(ValidationError);
      expect(await DeFlow.cancel(workflowId)).toBe(true);
      expect((await (await backendOf()).getWorkflow(workflowId))?.error?.message).toBe(`workflow ${workflowId} was cancelled (no reason given)`);
    });
  });
}
