/**
 * Retry of a finished workflow (docs/backends/step-machine.md, the retry transition): failed
 * work gets fresh attempts, steps depending on it are evaluated again, succeeded work is kept;
 * `from` runs a step and its dependents again from scratch; `step` + `failedOnly` retries one
 * step's failed tasks; refusals say why. Handlers count their calls and fail while their label
 * is in `broken`, so a test fixes the "bug" before it retries.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { NotFoundError, NotRetryableError, StepHandler, ValidationError, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { WorkflowResult } from '../../src/index.js';
import type { Conformance } from './context.js';
import { sleep } from './context.js';

const broken = new Set<string>();
const calls = new Map<string, number>();

function called(label: string): number {
  return calls.get(label) ?? 0;
}

const labelled = new StepHandler<unknown, string, string>({
  name: 'retry-labelled',
  handler(task) {
    calls.set(task.data, called(task.data) + 1);
    if (broken.has(task.data)) throw new Error(`${task.data} is broken`);
    return `${task.data} done`;
  },
});

const prepared = new StepHandler<{ label: string }, string, string>({
  name: 'retry-prepared',
  beforeAll(step) {
    const label = `${step.data.label}:before`;
    calls.set(label, called(label) + 1);
    if (broken.has(label)) throw new Error(`${label} is broken`);
  },
  handler: (task) => `${task.data} done`,
});

/** Adds a step running `labelled` on `<label>:helper` from its handler, and counts its afterAll. */
const adder = new StepHandler<{ label: string }, string, string>({
  name: 'retry-adder',
  async handler(task, step) {
    calls.set(task.data, called(task.data) + 1);
    await step.addAfter({ step: labelled, tasks: [`${step.data.label}:helper`], name: 'helper', options: { taskMaxFailCount: 1 } });
    return task.data;
  },
  afterAll(step) {
    const label = `${step.data.label}:after`;
    calls.set(label, called(label) + 1);
  },
});

/** Like `labelled`, and counts its afterAll under `<label>:after`. */
const watched = new StepHandler<{ label: string }, string, string>({
  name: 'retry-watched',
  handler(task) {
    calls.set(task.data, called(task.data) + 1);
    if (broken.has(task.data)) throw new Error(`${task.data} is broken`);
    return `${task.data} done`;
  },
  afterAll(step) {
    const label = `${step.data.label}:after`;
    calls.set(label, called(label) + 1);
  },
});

const once = { taskMaxFailCount: 1 };

async function failureOf(workflow: WorkFlow): Promise<WorkflowResult> {
  const failure = await workflow.done().then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  return (failure as WorkflowFailedError).result;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

function statuses(result: WorkflowResult): Record<string, string> {
  return Object.fromEntries(result.steps.filter((step) => step.parentKey === undefined).map((step) => [step.name, step.status]));
}

/** Labels unique to one test, so counts never mix. */
function labels(prefix: string): (name: string) => string {
  const run = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  return (name) => `${run}:${name}`;
}

export function retry(t: Conformance): void {
  describe('Retry', () => {
    it('gives failed tasks fresh attempts, keeps succeeded ones, and done() on every handle follows the new outcome', async () => {
      await t.register();
      const l = labels('tasks');
      broken.add(l('2'));
      const workflow = WorkFlow.create('retry-tasks')
        .addStep({ name: 'work', step: labelled, tasks: [l('1'), l('2'), l('3')], options: once })
        .run();
      const failed = await failureOf(workflow);
      expect(failed.steps[0]?.tasks.find((task) => task.data === l('2'))?.failedCount).toBe(1);
      const before = await WorkFlow.getById(workflow.id); // a handle made before the retry
      await rejection(before!.done());

      broken.delete(l('2'));
      await workflow.retry();
      const result = await workflow.done();
      expect(result.status).toBe('succeeded');
      expect((await before!.done()).status).toBe('succeeded');
      expect((await (await WorkFlow.getById(workflow.id))!.done()).status).toBe('succeeded');
      expect([called(l('1')), called(l('2')), called(l('3'))]).toEqual([1, 2, 1]);
      const tasks = result.steps[0]?.tasks ?? [];
      expect(tasks.map((task) => [task.status, task.failedCount, task.result])).toEqual([
        ['succeeded', 0, `${l('1')} done`],
        ['succeeded', 0, `${l('2')} done`],
        ['succeeded', 0, `${l('3')} done`],
      ]);
      const record = await workflow.refresh();
      expect(record).toMatchObject({ status: 'succeeded', retries: 1 });
    });

    it('evaluates skipped branches again and never re-runs succeeded steps (DeFlow.retry by id)', async () => {
      await t.register();
      const l = labels('branches');
      broken.add(l('risky'));
      const workflow = WorkFlow.create('retry-branches')
        .addStep({ name: 'side', step: labelled, tasks: [l('side')], dependsOn: [] })
        .addStep({ name: 'risky', step: labelled, tasks: [l('risky')], options: once, dependsOn: [] })
        .addStep({ name: 'happy', step: labelled, tasks: [l('happy')], dependsOn: ['risky'] })
        .addStep({ name: 'last', step: labelled, tasks: [l('last')], dependsOn: ['happy', 'side'] })
        .run();
      expect(statuses(await failureOf(workflow))).toEqual({ side: 'succeeded', risky: 'failed', happy: 'skipped', last: 'skipped' });

      broken.delete(l('risky'));
      const handle = await DeFlow.retry(workflow.id);
      const result = await handle.done();
      expect(statuses(result)).toEqual({ side: 'succeeded', risky: 'succeeded', happy: 'succeeded', last: 'succeeded' });
      expect([called(l('side')), called(l('risky')), called(l('happy')), called(l('last'))]).toEqual([1, 2, 1, 1]);
      expect((await workflow.done()).status).toBe('succeeded');
    });

    it('resumes a step that failed in beforeAll at that hook', async () => {
      await t.register();
      const l = labels('hook');
      broken.add(l('p:before'));
      const workflow = WorkFlow.create('retry-hook')
        .addStep({ name: 'prepared', step: prepared, data: { label: l('p') }, tasks: ['a', 'b'], options: once })
        .run();
      const failed = await failureOf(workflow);
      expect(failed.error).toMatchObject({ stage: 'before' });
      broken.delete(l('p:before'));
      const result = await (await workflow.retry()).done();
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual(['a done', 'b done']);
      expect(called(l('p:before'))).toBe(2);
    });

    it('resumes a step whose added step failed: the added step runs again, the tasks that added it do not', async () => {
      await t.register();
      const l = labels('added');
      broken.add(l('p:helper'));
      const workflow = WorkFlow.create('retry-added').addStep({ name: 'parent', step: adder, data: { label: l('p') }, tasks: [l('t')] }).run();
      const failed = await failureOf(workflow);
      expect(failed.error).toMatchObject({ stage: 'tasks-children' });
      broken.delete(l('p:helper'));
      const result = await (await workflow.retry()).done();
      expect(result.steps.map((step) => [step.name, step.status])).toEqual(
        expect.arrayContaining([
          ['parent', 'succeeded'],
          ['helper', 'succeeded'],
        ]),
      );
      expect(result.steps).toHaveLength(2);
      expect([called(l('t')), called(l('p:helper'))]).toEqual([1, 2]);
    });

    it('runs afterAll again after retried tasks, and decides a failure branch again', async () => {
      await t.register();
      const l = labels('after');
      broken.add(l('bad'));
      broken.add(l('boom'));
      const workflow = WorkFlow.create('retry-after')
        .addStep({ name: 'tasks', step: adder, data: { label: l('a') }, tasks: [], dependsOn: [] })
        .addStep({ name: 'risky', step: watched, data: { label: l('r') }, tasks: [l('ok'), l('bad')], options: once, dependsOn: [] })
        .addStep({ name: 'rescue', step: labelled, tasks: [l('rescue')], dependsOn: ['risky'], when: 'failure' })
        .addStep({ name: 'unhandled', step: labelled, tasks: [l('boom')], options: once, dependsOn: [] })
        .run();
      const failed = await failureOf(workflow);
      expect(statuses(failed)).toMatchObject({ risky: 'failed', rescue: 'succeeded', unhandled: 'failed' });
      broken.delete(l('bad'));
      broken.delete(l('boom'));
      const result = await (await workflow.retry()).done();
      // rescue ran because risky had failed; risky succeeds now, so rescue is skipped (its old result cleared).
      expect(statuses(result)).toEqual({ tasks: 'succeeded', risky: 'succeeded', rescue: 'skipped', unhandled: 'succeeded' });
      expect(result.steps.find((step) => step.name === 'rescue')?.tasks.map((task) => task.result)).toEqual([undefined]);
      expect([called(l('ok')), called(l('bad')), called(l('rescue'))]).toEqual([1, 2, 1]);
      expect(called(l('r:after'))).toBe(2); // it saw the failed tasks, then the retried ones
      expect(called(l('a:after'))).toBe(1); // a step that succeeded is kept, its afterAll too
    });

    it('runs a step and its dependents again from scratch with from, evaluating a failure branch again', async () => {
      await t.register();
      const l = labels('from');
      const chain = WorkFlow.create('retry-from')
        .addStep({ name: 'a', step: labelled, tasks: [l('a')] })
        .addStep({ name: 'b', step: labelled, tasks: [l('b1'), l('b2')] })
        .addStep({ name: 'c', step: labelled, tasks: [l('c')] })
        .run();
      await chain.done();
      const again = await (await chain.retry({ from: 'b' })).done();
      expect(statuses(again)).toEqual({ a: 'succeeded', b: 'succeeded', c: 'succeeded' });
      expect([called(l('a')), called(l('b1')), called(l('b2')), called(l('c'))]).toEqual([1, 2, 2, 2]);
      expect(again.steps.find((step) => step.name === 'b')?.tasks.map((task) => task.failedCount)).toEqual([0, 0]);

      // A handled failure (when: 'failure' ran): the workflow succeeded; from re-evaluates the branch.
      broken.add(l('risky'));
      const handled = WorkFlow.create('retry-rescue')
        .addStep({ name: 'risky', step: labelled, tasks: [l('risky')], options: once })
        .addStep({ name: 'rescue', step: labelled, tasks: [l('rescue')], dependsOn: ['risky'], when: 'failure' })
        .run();
      expect(statuses(await handled.done())).toEqual({ risky: 'failed', rescue: 'succeeded' });
      broken.delete(l('risky'));
      const fixed = await (await handled.retry({ from: 'risky' })).done();
      expect(statuses(fixed)).toEqual({ risky: 'succeeded', rescue: 'skipped' });
      expect(called(l('rescue'))).toBe(1);
    });

    it("retries only one step's failed tasks with step + failedOnly; other failed steps stay failed", async () => {
      await t.register();
      const l = labels('only');
      broken.add(l('x2'));
      broken.add(l('y'));
      const workflow = WorkFlow.create('retry-only')
        .addStep({ name: 'x', step: labelled, tasks: [l('x1'), l('x2')], options: once, dependsOn: [] })
        .addStep({ name: 'y', step: labelled, tasks: [l('y')], options: once, dependsOn: [] })
        .addStep({ name: 'after-x', step: labelled, tasks: [l('after-x')], dependsOn: ['x'] })
        .run();
      expect(statuses(await failureOf(workflow))).toEqual({ x: 'failed', y: 'failed', 'after-x': 'skipped' });
      broken.delete(l('x2'));
      broken.delete(l('y'));
      await workflow.retry({ step: 'x', failedOnly: true });
      const result = await failureOf(workflow);
      expect(statuses(result)).toEqual({ x: 'succeeded', y: 'failed', 'after-x': 'succeeded' });
      expect([called(l('x1')), called(l('x2')), called(l('y')), called(l('after-x'))]).toEqual([1, 2, 1, 1]);
      expect(result.error).toMatchObject({ step: 'y' });
    });

    it('refuses a running workflow, an unknown id, an unknown step and a succeeded one without from, saying what to do', async () => {
      await t.register({ worker: false });
      const l = labels('refusals');
      const running = WorkFlow.create('retry-running').addStep({ name: 'only', step: labelled, tasks: [l('1')] }).run();
      await running.started();
      const still = await rejection(running.retry());
      expect(still).toBeInstanceOf(NotRetryableError);
      expect(still).toMatchObject({ code: 'ERR_NOT_RETRYABLE', reason: 'unfinished', workflowId: running.id });
      expect(still.message).toMatch(/^cannot retry workflow \S+: it is still (pending|running)\. Wait for it to finish \(await workflow\.done\(\)\), then retry it\.$/);

      const missing = await rejection(DeFlow.retry('no-such-workflow'));
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(missing.message).toBe(
        'cannot retry workflow no-such-workflow: it does not exist (never created, or removed by clean(), retention or cleanOnDone)',
      );

      const unknownStep = await rejection(running.retry({ from: 'nope' }));
      expect(unknownStep).toBeInstanceOf(ValidationError);
      expect(unknownStep.message).toBe(`workflow.retry(): workflow ${running.id} has no step named "nope" (option from); its steps are: "only"`);
      const bare = await rejection(running.retry({ step: 'only' }));
      expect(bare).toBeInstanceOf(ValidationError);
      expect(bare.message).toMatch(/needs failedOnly: true/);
    });

    it('refuses a succeeded workflow without from, and failedOnly on a step that did not fail', async () => {
      await t.register();
      const l = labels('succeeded');
      const workflow = WorkFlow.create('retry-succeeded').addStep({ name: 'fine', step: labelled, tasks: [l('1')] }).run();
      await workflow.done();
      const nothing = await rejection(workflow.retry());
      expect(nothing).toBeInstanceOf(NotRetryableError);
      expect(nothing.message).toBe(
        `cannot retry workflow ${workflow.id}: it succeeded, nothing failed. To run a step and the steps after it again, pass from: '<step name>'.`,
      );
      const notFailed = await rejection(workflow.retry({ step: 'fine', failedOnly: true }));
      expect(notFailed).toBeInstanceOf(NotRetryableError);
      expect(notFailed.message).toBe(
        `cannot retry the failed work of step "fine" of workflow ${workflow.id}: the step is succeeded, not failed. To run it again from scratch, pass from: 'fine'.`,
      );
      expect(called(l('1'))).toBe(1);
    });

    it('clears the outcome and the removal deadline of a retried workflow, so retention does not remove it', async () => {
      await t.register({ worker: false });
      const { backend } = await DeFlow.getInstance().services();
      const l = labels('deadline');
      // Kept 1 s once finished: gone by then (Redis: by key expiry too), unless a retry cleared its deadline.
      const workflow = WorkFlow.create('retry-deadline', { retention: 1000 }).addStep({ name: 'manual', step: labelled, tasks: [l('1')], options: once }).run();
      await workflow.started();
      await backend.registerNode({ id: 'by-hand', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      const { jobs } = await backend.claim({ nodeId: 'by-hand', workflowId: workflow.id, stepId: '1', limit: 10 });
      const error = { name: 'Error', message: 'broken by hand' };
      await backend.complete({ outcomes: jobs.map((job) => ({ ...job, status: 'failed' as const, error })) });
      expect((await backend.getWorkflow(workflow.id))?.status).toBe('failed');

      const { retries, events } = await backend.retryWorkflow({ workflowId: workflow.id });
      expect(retries).toBe(1);
      expect(events).toContainEqual({ type: 'work', workflowId: workflow.id, stepId: '1' });
      await sleep(1300); // the time passing is what is tested
      expect(await backend.sweep(100)).toBe(0);
      expect(await backend.getWorkflow(workflow.id)).toMatchObject({ status: 'running', error: null, finishedAt: null, retries: 1, openSteps: 1 });
      const [task] = await backend.getTasks(workflow.id, '1', { afterSeq: 0, limit: 10 });
      expect(task).toMatchObject({ status: 'ready', failedCount: 0, lostCount: 0, error: null });
      const again = await backend.claim({ nodeId: 'by-hand', workflowId: workflow.id, stepId: '1', limit: 10 });
      expect(again.jobs.map((job) => [job.seq, job.failedCount, job.lostCount])).toEqual([[1, 0, 0]]);
    });
  });
}
