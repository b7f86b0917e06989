/**
 * Failures and refusals as users see them (docs/backends/step-machine.md#failures): the
 * workflow's error names the step, its cause chain leads to the task that failed, a child
 * names the step that added it, refusals say what was refused. Messages are the same words on
 * every backend.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { LeaseLostError, NotFoundError, StepClosedError, StepHandler, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { Backend, ClaimedJob, NewStep } from '../../src/backends/backend.js';
import type { Conformance } from './context.js';
import { sleep } from './context.js';

const flaky = new StepHandler<unknown, number, number>({
  name: 'failures-flaky',
  handler(task) {
    if (task.data === 2) throw new Error('two is bad');
    return task.data;
  },
});
const broken = new StepHandler<unknown, number, number>({
  name: 'failures-broken',
  handler() {
    throw new Error('helper broke');
  },
});
const adder = new StepHandler<unknown, number, number>({
  name: 'failures-adder',
  async handler(task, step) {
    await step.addAfter({ step: broken, tasks: [1], name: 'helper' });
    return task.data;
  },
});
const unprepared = new StepHandler<unknown, number, number>({
  name: 'failures-unprepared',
  beforeAll() {
    throw new Error('no setup');
  },
  handler: (task) => task.data,
});
const echo = new StepHandler<unknown, number, number>({ name: 'failures-echo', handler: (task) => task.data });

async function failureOf(workflow: WorkFlow): Promise<WorkflowFailedError> {
  const failure = await workflow.done().then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  return failure as WorkflowFailedError;
}

async function backendOf(): Promise<Backend> {
  return (await DeFlow.getInstance().services()).backend;
}

/** A one-step workflow nobody in this process runs (worker: false): the test drives it through the contract. */
async function idleWorkflow(tasks: number[]): Promise<string> {
  const workflow = WorkFlow.create('by-hand').addStep({ name: 'manual', step: echo, tasks }).run();
  await workflow.started();
  return workflow.id;
}

function succeed(job: ClaimedJob) {
  return { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token, status: 'succeeded' as const, resultJson: '1', error: null };
}

const newStep: NewStep = {
  id: 'late',
  name: 'late',
  handler: { key: 'failures-echo', hasBeforeAll: false, hasAfterAll: false },
  dataJson: 'null',
  options: { taskConcurrency: 1, taskTimeout: 0, taskMaxFailCount: 1, taskFailRetryDelay: 0 },
  deps: [],
  tasksJson: [],
};

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

/** Each refusal of the contract, on a fresh one-step workflow. */
async function refusals(): Promise<{ late: Error; unknown: Error; stranger: Error; closed: Error; workflowId: string }> {
  const backend = await backendOf();
  const workflowId = await idleWorkflow([1]);
  const late = await rejection(backend.addAnchoredSteps({ workflowId, anchorStepId: '1', phase: 'before', steps: [newStep] }));
  const unknown = await rejection(backend.addTasks({ workflowId, stepId: 'nope', tasksJson: ['1'] }));
  const stranger = await rejection(backend.claim({ nodeId: 'stranger', workflowId, stepId: '1', limit: 1 }));
  await backend.registerNode({ id: 'finisher', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
  const { jobs } = await backend.claim({ nodeId: 'finisher', workflowId, stepId: '1', limit: 10 });
  await backend.complete({ outcomes: jobs.map(succeed) });
  const closed = await rejection(backend.addTasks({ workflowId, stepId: '1', tasksJson: ['2'] }));
  return { late, unknown, stranger, closed, workflowId };
}

export function failures(t: Conformance): void {
  describe('Failures and refusals', () => {
    it('fails a workflow with a step failure whose cause is the task failure, then the task error', async () => {
      await t.register();
      const failure = await failureOf(WorkFlow.create('task-failure').addStep({ name: 'numbers', step: flaky, tasks: [1, 2, 3] }).run());
      const error = failure.result.error;
      expect(error).toMatchObject({
        name: 'StepFailedError',
        code: 'ERR_STEP_FAILED',
        message: 'step "numbers" failed: 1 of 3 tasks failed; first failure (task 2): two is bad',
        step: 'numbers',
        stepId: '1',
      });
      expect(error?.cause).toMatchObject({
        name: 'Error',
        code: 'ERR_TASK_FAILED',
        message: '1 of 3 tasks failed; first failure (task 2): two is bad',
        task: 2,
        cause: { name: 'Error', message: 'two is bad' },
      });
      expect(failure.message).toBe(`workflow ${failure.result.id} failed: ${error?.message}`);
      // The step's own error is the task failure.
      expect(failure.result.steps[0]?.error).toEqual(error?.cause);
    });

    it('records the stage a step failed in, and the counts of a task failure', async () => {
      await t.register();
      const failure = await failureOf(WorkFlow.create('task-failure').addStep({ name: 'numbers', step: flaky, tasks: [1, 2, 3] }).run());
      expect(failure.result.error).toMatchObject({ status: 'failed', stage: 'tasks' });
      expect(failure.result.error?.cause).toMatchObject({ step: 'numbers', stepId: '1', status: 'failed', stage: 'tasks', failed: 1, total: 3 });
    });

    it('fails a step whose added step failed, naming both', async () => {
      await t.register();
      const failure = await failureOf(WorkFlow.create('child-failure').addStep({ name: 'parent', step: adder, tasks: [1] }).run());
      const helper = failure.result.steps.find((step) => step.name === 'helper');
      expect(helper?.status).toBe('failed');
      const error = failure.result.error;
      expect(error).toMatchObject({
        code: 'ERR_STEP_FAILED',
        message:
          'step "parent" failed: step "helper" added by "parent" with addAfter failed: 1 of 1 tasks failed; first failure (task 1): helper broke',
        step: 'parent',
        stepId: '1',
      });
      expect(error?.cause).toMatchObject({
        name: 'StepFailedError',
        code: 'ERR_STEP_FAILED',
        message: 'step "helper" added by "parent" with addAfter failed: 1 of 1 tasks failed; first failure (task 1): helper broke',
        step: 'helper',
        stepId: helper?.id,
        cause: { code: 'ERR_TASK_FAILED', task: 1, cause: { message: 'helper broke' } },
      });
      expect(failure.result.steps.find((step) => step.name === 'parent')?.error).toEqual(error?.cause);
    });

    it('names the anchor of a failed added step, and the stages both failed in', async () => {
      await t.register();
      const failure = await failureOf(WorkFlow.create('child-failure').addStep({ name: 'parent', step: adder, tasks: [1] }).run());
      expect(failure.result.error).toMatchObject({ status: 'failed', stage: 'tasks-children' });
      expect(failure.result.error?.cause).toMatchObject({ anchorStep: 'parent', anchorStepId: '1', status: 'failed', stage: 'tasks' });
    });

    it('fails a step with the error of its failed hook', async () => {
      await t.register();
      const failure = await failureOf(WorkFlow.create('hook-failure').addStep({ name: 'hooked', step: unprepared, tasks: [1] }).run());
      expect(failure.result.error).toMatchObject({ code: 'ERR_STEP_FAILED', message: 'step "hooked" failed: no setup', step: 'hooked', stepId: '1' });
      expect(failure.result.error?.cause).toMatchObject({ name: 'Error', message: 'no setup', hook: 'beforeAll' });
    });

    it('records the hook stage a step failed in', async () => {
      await t.register();
      const failure = await failureOf(WorkFlow.create('hook-failure').addStep({ name: 'hooked', step: unprepared, tasks: [1] }).run());
      expect(failure.result.error).toMatchObject({ status: 'failed', stage: 'before' });
    });

    it('stores a node loss on the task with its reason', async () => {
      await t.register({ worker: false, checkProcessQueueInterval: 0 });
      const backend = await backendOf();
      const workflowId = await idleWorkflow([1]);
      await backend.registerNode({ id: 'short-lived', host: 'test', pid: 1, handlers: [], leaseMs: 100 });
      expect((await backend.claim({ nodeId: 'short-lived', workflowId, stepId: '1', limit: 10 })).jobs).toHaveLength(1);
      await sleep(250);
      await backend.recoverExpired(100);
      const [task] = await backend.getTasks(workflowId, '1', { afterSeq: 0, limit: 10 });
      expect(task?.error).toEqual({
        name: 'NodeLostError',
        code: 'ERR_NODE_LOST',
        message:
          'task 1 of step "manual" was lost with its node (1 of maxNodeLosses: 3): its node stopped responding (its lease ' +
          'expired without a heartbeat); it runs again, and the loss does not count as a failed attempt',
        step: 'manual',
        task: 1,
        lostCount: 1,
        maxNodeLosses: 3,
      });
    });

    it('refuses tasks and steps a step no longer takes, unknown steps and unregistered nodes, saying why', async () => {
      await t.register({ worker: false });
      const { late, unknown, stranger, closed, workflowId } = await refusals();
      expect(late).toBeInstanceOf(StepClosedError);
      expect(late.message).toBe(
        'cannot add a step after the before phase of step "manual": that phase is over (step is running, stage tasks). ' +
          'Call step.addAfter() from inside beforeAll, handler or afterAll.',
      );
      expect(unknown).toBeInstanceOf(NotFoundError);
      expect(unknown.message).toBe(`step "nope" of workflow ${workflowId} does not exist (was the workflow removed?)`);
      expect(stranger).toBeInstanceOf(LeaseLostError);
      expect(stranger.message).toBe('node stranger is not registered any more (its lease expired); it must register again');
      expect(closed).toBeInstanceOf(StepClosedError);
      expect(closed.message).toBe(
        'cannot add tasks to step "manual": its tasks already ran (step is succeeded, stage done). Add a new step with step.addAfter({ step, tasks }) instead.',
      );
    });

    it('puts the refusal record on the error it rejects with', async () => {
      await t.register({ worker: false });
      const { late, unknown, stranger, closed, workflowId } = await refusals();
      expect(late).toMatchObject({ code: 'ERR_STEP_CLOSED', operation: 'addAfter', phase: 'before', step: 'manual', stepId: '1', status: 'running', stage: 'tasks' });
      expect(unknown).toMatchObject({ code: 'ERR_NOT_FOUND', workflowId, stepId: 'nope' });
      expect(stranger).toMatchObject({ code: 'ERR_LEASE_LOST', nodeId: 'stranger' });
      expect(closed).toMatchObject({ code: 'ERR_STEP_CLOSED', operation: 'addTasks', step: 'manual', stepId: '1', status: 'succeeded', stage: 'done' });
    });

    it('refuses what is asked of a removed workflow: outcomes change nothing, additions are not found', async () => {
      await t.register({ worker: false });
      const backend = await backendOf();
      const workflowId = await idleWorkflow([1]);
      await backend.registerNode({ id: 'holder', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      const { jobs } = await backend.claim({ nodeId: 'holder', workflowId, stepId: '1', limit: 10 });
      expect(await backend.removeWorkflow(workflowId)).toBe(true);
      // Refused, never applied, and reported as stale.
      expect((await backend.complete({ outcomes: jobs.map(succeed) })).stale).toEqual(jobs.map((job) => job.id));
      expect(await backend.getTasks(workflowId, '1', { afterSeq: 0, limit: 10 })).toEqual([]);
      expect(await rejection(backend.addTasks({ workflowId, stepId: '1', tasksJson: ['2'] }))).toMatchObject({ code: 'ERR_NOT_FOUND' });
      expect((await backend.claim({ nodeId: 'holder', workflowId, stepId: '1', limit: 10 })).jobs).toEqual([]);
      expect(await backend.getWorkflow(workflowId)).toBeNull();
    });
  });
}
