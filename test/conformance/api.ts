/** The public API around a run: steps and tasks as handlers see them, handles, errors, validation. */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import DeFlow, { StepClosedError, StepHandler, StepModuleError, WorkFlow } from '../../src/index.js';
import type { Step, StepOptions } from '../../src/index.js';
import type { Conformance } from './context.js';
import { eventually, sleep } from './context.js';

interface Seen {
  step: Pick<Step, 'id' | 'name' | 'index' | 'workflowId' | 'key' | 'parentKey' | 'taskCount'> & { data: unknown; options: StepOptions };
  progress: string[];
}
const seen: Seen[] = [];
const handlerIndexes: number[] = [];
const inspector = new StepHandler<{ tag: string }, number, number>({
  name: 'api-inspector',
  options: { taskTimeout: 4000, taskConcurrency: 2 },
  async beforeAll(step) {
    await step.addTasks([1, 2, 3]);
  },
  handler(task, step) {
    handlerIndexes.push(step.index);
    return task.data * 10;
  },
  async afterAll(step) {
    const progress = await step.getProgress();
    const { id, name, index, workflowId, key, parentKey, taskCount, data, options } = step;
    seen.push({ step: { id, name, index, workflowId, key, parentKey, taskCount, data, options }, progress: [progress.percent] });
  },
});

const hookStatuses: string[] = [];
const sideEffects = new StepHandler<unknown, number, number>({
  name: 'api-side-effects',
  options: { taskMaxFailCount: 2 },
  handler(task) {
    if (task.data === 2) throw new Error('handler failed');
    return task.data;
  },
  afterEach(task) {
    hookStatuses.push(`afterEach ${task.data} ${task.status}`);
    throw new Error('afterEach failed');
  },
  onHandlerError(task) {
    hookStatuses.push(`onHandlerError ${task.data} ${task.status}`);
    throw new Error('onHandlerError failed');
  },
});

const retryTimes: number[] = [];
const retriedSoon = new StepHandler<unknown, number, number>({
  name: 'api-retried-soon',
  options: { taskMaxFailCount: 4, taskFailRetryDelay: 150 },
  handler(task) {
    retryTimes.push(Date.now());
    if (task.failedCount < 3) throw new Error(`attempt ${task.failedCount + 1} fails`);
    return task.data;
  },
});

const closer = new StepHandler<unknown, number, number>({
  name: 'api-closer',
  handler: (task) => task.data,
  async afterAll(step) {
    const error = await step.addTasks([99]).catch((e: unknown) => e);
    closed.push(error);
  },
});
const closed: unknown[] = [];

const slow = new StepHandler<unknown, number, number>({
  name: 'api-slow',
  async handler(task) {
    await sleep(task.data);
    return task.data;
  },
});

const careless = new StepHandler<unknown, number, number>({
  name: 'api-careless',
  beforeAll(step) {
    // Not awaited: the attempt still waits for them.
    void step.addTasks([1, 2]);
    void step.addTasks([3]);
  },
  handler: (task) => task.data,
  afterAll(step) {
    void step.addAfter({ step: slow, name: 'added-without-await', tasks: [5] });
  },
});

const lateCalls: unknown[] = [];
const late = new StepHandler<unknown, number, number>({
  name: 'api-late',
  beforeAll(step) {
    setTimeout(() => {
      step.addTasks([9]).catch((error: unknown) => lateCalls.push(error));
    }, 20);
  },
  handler: (task) => task.data,
});

let stubbornStarted = false;
let stubbornEnded = false;
const stubborn = new StepHandler<unknown, number, number>({
  name: 'api-stubborn',
  async handler(task) {
    stubbornStarted = true;
    await sleep(1_500); // ignores task.signal
    stubbornEnded = true;
    return task.data;
  },
});

export function api(t: Conformance): void {
  describe('API', () => {
    it('waits for addTasks / addAfter calls a hook did not await, and refuses calls made after it returned', async () => {
      await t.register();
      const result = await WorkFlow.create('careless').addStep({ step: careless }).run().done();
      expect(result.steps.map((step) => step.name)).toEqual(['api-careless', 'added-without-await']);
      // Two calls in flight at once may land in either order (on PostgreSQL, on two connections).
      expect(result.steps[0]?.tasks.map((task) => task.result).sort()).toEqual([1, 2, 3]);
      expect(result.steps[1]?.tasks.map((task) => task.result)).toEqual([5]);
      lateCalls.length = 0;
      await WorkFlow.create('late').addStep({ step: late, tasks: [1] }).run().done();
      await eventually(() => (lateCalls.length > 0 ? true : undefined));
      expect(lateCalls[0]).toBeInstanceOf(StepClosedError);
      expect((lateCalls[0] as Error).message).toMatch(/called after the beforeAll of step "api-late" .* had returned: await every addTasks/);
    });

    it('stores a workflow run() accepted even when unregister() follows at once', async () => {
      await t.register({ worker: false });
      const workflow = WorkFlow.create('hasty').addStep({ step: slow, tasks: [1, 2] }).run();
      await DeFlow.unregister();
      await expect(workflow.started()).resolves.toBe(workflow);
      await t.register();
      const result = await (await WorkFlow.getById(workflow.id))?.done();
      expect(result?.steps[0]?.tasks.map((task) => task.result)).toEqual([1, 2]);
    });

    it('hands back a task that outlives drainTimeout at unregister, without an error or a counted attempt', async () => {
      const deflow = await t.register({ drainTimeout: 200 });
      const problems: string[] = [];
      deflow.on('error', (error, during) => problems.push(`${during}: ${error.message}`));
      stubbornStarted = false;
      stubbornEnded = false;
      const workflow = WorkFlow.create('stubborn').addStep({ step: stubborn, tasks: [4] }).run();
      workflow.done().catch(() => undefined);
      await eventually(() => (stubbornStarted ? true : undefined));
      await DeFlow.unregister();
      // The handler ends; its late result must be dropped quietly (nothing reported a while after).
      await eventually(() => (stubbornEnded ? true : undefined));
      await sleep(500);
      expect(problems).toEqual([]);
      await t.register();
      const result = await (await WorkFlow.getById(workflow.id))?.done();
      expect(result?.steps[0]?.tasks[0]).toMatchObject({ result: 4, failedCount: 0 });
    });

    it('gives handlers the step (data, options by precedence, index, keys, progress)', async () => {
      await t.register();
      seen.length = 0;
      handlerIndexes.length = 0;
      const workflow = WorkFlow.create('inspect', { taskTimeout: 1000, taskMaxFailCount: 5 })
        .addStep({ step: inspector, data: { tag: 'first' }, options: { taskConcurrency: 3 } })
        .run();
      const result = await workflow.done();
      expect(seen).toHaveLength(1);
      const [{ step, progress }] = seen as [Seen];
      expect(step).toMatchObject({
        id: '1',
        name: 'api-inspector',
        index: 0,
        workflowId: workflow.id,
        key: `${workflow.id}:1`,
        parentKey: undefined,
        taskCount: 3,
        data: { tag: 'first' },
      });
      // defaults < WorkFlow.create < StepHandler.options < addStep options
      expect(step.options).toEqual({ taskConcurrency: 3, taskTimeout: 4000, taskMaxFailCount: 5, taskFailRetryDelay: 0, maxNodeLosses: 3, isolation: 'none', taskRetryBackoff: 'fixed', taskRetryDelayMax: 0 });
      expect(progress).toEqual(['100.00% - 3/3']);
      // The index is known from the tasks on, also on the node that ran beforeAll.
      expect(handlerIndexes).toEqual([0, 0, 0]);
      expect(result.steps[0]?.tasks.map((task) => [task.seq, task.result])).toEqual([
        [1, 10],
        [2, 20],
        [3, 30],
      ]);
      expect(result.steps[0]?.progress).toEqual({ done: 3, failed: 0, total: 3, percent: '100.00% - 3/3' });
    });

    it('records a throwing afterEach or onHandlerError on the task and never stalls the step', async () => {
      await t.register();
      hookStatuses.length = 0;
      const workflow = WorkFlow.create('side-effects').addStep({ step: sideEffects, tasks: [1, 2, 3] }).run();
      const failure = (await workflow.done().catch((e: unknown) => e)) as { result: { steps: { tasks: { data: unknown; status: string; error?: Record<string, unknown> }[] }[] } };
      const tasks = failure.result.steps[0]?.tasks ?? [];
      expect(tasks.map((task) => task.status)).toEqual(['succeeded', 'failed', 'succeeded']);
      expect(tasks[0]?.error).toMatchObject({ hook: 'afterEach', message: 'afterEach failed' });
      expect(tasks[1]?.error).toMatchObject({ message: 'handler failed', hookError: { hook: 'onHandlerError', message: 'onHandlerError failed' } });
      // Hooks see the task's fate in task.status.
      expect(hookStatuses.sort()).toEqual([
        'afterEach 1 succeeded',
        'afterEach 2 failed',
        'afterEach 3 succeeded',
        'onHandlerError 2 failed',
        'onHandlerError 2 leased',
      ]);
    });

    it('retries a failed task after taskFailRetryDelay, not at the next idle check', async () => {
      await t.register();
      retryTimes.length = 0;
      const result = await WorkFlow.create('retry-delay').addStep({ step: retriedSoon, tasks: [7] }).run().done();
      expect(result.steps[0]?.tasks[0]).toMatchObject({ result: 7, failedCount: 3 });
      const gaps = retryTimes.slice(1).map((time, i) => time - (retryTimes[i] ?? time));
      expect(gaps).toHaveLength(3);
      // Each retry waits its delay; none waits for the 1 s safety-net discovery (generous bound).
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(140);
        expect(gap).toBeLessThan(900);
      }
    });

    it('rejects done() in every handle when a running workflow is removed', async () => {
      await t.register();
      const workflow = WorkFlow.create('removed').addStep({ step: slow, tasks: [400, 400, 400] }).run();
      const creatorDone = workflow.done().catch((e: unknown) => e);
      await workflow.started();
      const follower = await WorkFlow.getById(workflow.id);
      const followerDone = follower?.done().catch((e: unknown) => e);
      await follower?.clean();
      for (const outcome of [await creatorDone, await followerDone]) {
        expect(outcome).toMatchObject({ code: 'ERR_NOT_FOUND' });
        expect((outcome as Error).message).toMatch(/was removed/);
      }
      // ifExist: 'replace' removes the running namesake, whose waiters hear of it too.
      const old = WorkFlow.create('replaced').addStep({ step: slow, tasks: [400, 400] }).run();
      const oldDone = old.done().catch((e: unknown) => e);
      await old.started();
      const fresh = WorkFlow.create('replaced', { ifExist: 'replace' }).addStep({ step: slow, tasks: [1] }).run();
      expect(await oldDone).toMatchObject({ code: 'ERR_NOT_FOUND' });
      expect((await fresh.done()).status).toBe('succeeded');
    });

    it('reads steps, pages of results and the previous step through handles', async () => {
      await t.register();
      const tasks = Array.from({ length: 25 }, (_, i) => i + 1);
      const workflow = WorkFlow.create('reads')
        .addStep({ name: 'first', step: slow, tasks: [1] })
        .addStep({ name: 'second', step: slow, tasks })
        .run();
      await workflow.done();
      const second = await workflow.getStep('second');
      expect(second?.taskCount).toBe(25);
      expect((await second?.getResults())?.map((task) => task.result)).toEqual(tasks);
      expect((await second?.getResultsPage({ afterSeq: 10, limit: 5 }))?.map((task) => task.seq)).toEqual([11, 12, 13, 14, 15]);
      const iterated: number[] = [];
      for await (const task of second?.iterateResults(7) ?? []) iterated.push(task.seq);
      expect(iterated).toEqual(tasks);
      expect((await second?.getPrevious())?.name).toBe('first');
      expect((await second?.getWorkflow())?.id).toBe(workflow.id);
      expect(await second?.getProgress()).toEqual({ done: 25, failed: 0, total: 25, percent: '100.00% - 25/25' });
    });

    it('follows a workflow from another handle: events and done()', async () => {
      await t.register();
      const workflow = WorkFlow.create('followed').addStep({ step: slow, tasks: [300, 300] }).run();
      await workflow.started();
      const handle = await WorkFlow.getById(workflow.id);
      expect(handle?.name).toBe('followed');
      const finished: string[] = [];
      handle?.on('done', (result) => finished.push(result.status));
      const stepsDone: string[] = [];
      handle?.on('step', (event) => stepsDone.push(event.status));
      const result = await handle?.done();
      expect(result?.steps[0]?.tasks.map((task) => task.result)).toEqual([300, 300]);
      expect(finished).toEqual(['succeeded']);
      expect(stepsDone).toEqual(['succeeded']);
      // done() on a finished workflow resolves at once, with the same outcome.
      expect((await (await WorkFlow.getById(workflow.id))?.done())?.status).toBe('succeeded');
      expect(await WorkFlow.getById('no-such-workflow')).toBeNull();
    });

    it('refuses tasks for a step whose tasks already ran', async () => {
      await t.register();
      closed.length = 0;
      await WorkFlow.create('closed').addStep({ step: closer, tasks: [1] }).run().done();
      expect(closed[0]).toBeInstanceOf(StepClosedError);
      expect((closed[0] as Error).message).toMatch(/its tasks already ran.*addAfter/);
    });

    it('fails a workflow whose step module does not default-export a StepHandler, saying so', async () => {
      await t.register();
      const notAHandler = fileURLToPath(new URL('../fixtures/not-a-step.ts', import.meta.url));
      const workflow = WorkFlow.create('bad-module').addStep({ step: notAHandler }).run();
      await expect(workflow.done()).rejects.toThrow(/does not default-export a StepHandler/);
      await expect(workflow.started()).rejects.toBeInstanceOf(StepModuleError);
    });

    it('rejects pending done() promises when DeFlow is unregistered, instead of hanging', async () => {
      await t.register();
      const workflow = WorkFlow.create('abandoned').addStep({ step: slow, tasks: [200] }).run();
      const pending = expect(workflow.done()).rejects.toMatchObject({ code: 'ERR_UNREGISTERED' });
      await workflow.started();
      await DeFlow.unregister();
      await pending;
    });

    it('removes a workflow soon after it finishes with cleanOnDone', async () => {
      await t.register({ checkProcessQueueInterval: 100 });
      const workflow = WorkFlow.create('clean', { cleanOnDone: true }).addStep({ step: slow, tasks: [1] }).run();
      const result = await workflow.done();
      expect(result.steps[0]?.tasks[0]?.result).toBe(1); // still readable at the end
      await eventually(async () => ((await WorkFlow.getById(workflow.id)) === null ? true : undefined), 30_000, 250);
    }, 40_000);
  });
}
