/**
 * Ports of the original DeFlow test series: stored state, timeouts and retries, failed
 * tasks, chained addAfter, addAfter from each lifecycle method.
 */
import { describe, expect, it } from 'vitest';
import { StepHandler, TimeoutError, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { Step } from '../../src/index.js';
import type { Conformance } from './context.js';
import { sleep } from './context.js';

const double = new StepHandler<unknown, number, number>({
  name: 'ports-double',
  handler: (task) => task.data * 2,
});

const aborted: number[] = [];
const sleeper = new StepHandler<unknown, number, number>({
  name: 'ports-sleeper',
  async handler(task) {
    task.signal.addEventListener('abort', () => aborted.push(task.data));
    await sleep(task.data);
    return task.data;
  },
});

const failWhenValueIs1 = new StepHandler<unknown, number, number>({
  name: 'ports-fail-when-1',
  handler(task) {
    if (task.data === 1 && task.failedCount < 2) throw new Error(`attempt ${task.failedCount + 1} failed`);
    return task.data;
  },
});

const throwWhenValueIs1 = new StepHandler<unknown, number, number>({
  name: 'ports-throw-when-1',
  handler(task) {
    if (task.data === 1) throw new Error('failed');
    return task.data;
  },
});

const chain: StepHandler<unknown, { value: number }, number> = new StepHandler<unknown, { value: number }, number>({
  name: 'ports-chain',
  async handler(task, step) {
    if (task.data.value < 100) await step.addAfter({ step: chain, tasks: [{ value: task.data.value + 1 }] });
    return task.data.value;
  },
});

type Valued = { value: string };
const plain = (name: string): StepHandler<unknown, Valued, string> =>
  new StepHandler<unknown, Valued, string>({ name, handler: (task) => task.data.value });
const step3AfterAfter = plain('ports-3-after-after');
const step3Before = plain('ports-3-before');
const step3After = new StepHandler<unknown, Valued, string>({
  name: 'ports-3-after',
  async handler(task, step) {
    await step.addAfter({ step: step3AfterAfter, tasks: [{ value: 'step3AfterAfter' }] });
    return task.data.value;
  },
});
const step3 = new StepHandler<unknown, Valued, string>({
  name: 'ports-3',
  async beforeAll(step) {
    await step.addAfter({ step: step3Before, tasks: [{ value: 'step3Before' }] });
  },
  handler: (task) => task.data.value,
  async afterAll(step) {
    await step.addAfter({ step: step3After, tasks: [{ value: 'step3After' }] });
  },
});
const step6After = plain('ports-6-after');
const step6 = new StepHandler<unknown, Valued, string>({
  name: 'ports-6',
  async handler(task, step: Step<unknown, Valued, string>) {
    await step.addAfter({ step: step6After, tasks: [{ value: 'step6After' }] });
    return task.data.value;
  },
});
const ordinary = plain('ports-ordinary');

export function deflowPorts(t: Conformance): void {
  describe('DeFlow ports', () => {
    it('runs a workflow to the end and stores its state', async () => {
      await t.register();
      const workflow = WorkFlow.create('test-simple').addStep({ step: double, tasks: [1, 2, 3, 4, 5, 6] }).run();
      const result = await workflow.done();
      expect(result.status).toBe('succeeded');
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual([2, 4, 6, 8, 10, 12]);
      const stored = await workflow.refresh();
      expect(stored).toMatchObject({ id: workflow.id, name: 'test-simple', status: 'succeeded', error: null, openSteps: 0 });
      expect(stored.finishedAt).toBeGreaterThanOrEqual(stored.createdAt);
      expect(stored.options).toMatchObject({ cleanOnDone: false });
    });

    it('keeps two workflows of the same name apart, and replaces them with ifExist: "replace"', async () => {
      await t.register();
      const first = WorkFlow.create('twins').addStep({ step: double, tasks: [1] }).run();
      const second = WorkFlow.create('twins').addStep({ step: double, tasks: [2] }).run();
      await Promise.all([first.done(), second.done()]);
      expect((await WorkFlow.getByName('twins')).map((w) => w.id).sort()).toEqual([first.id, second.id].sort());

      const third = WorkFlow.create('twins', { ifExist: 'replace' }).addStep({ step: double, tasks: [3] }).run();
      await third.done();
      expect((await WorkFlow.getByName('twins')).map((w) => w.id)).toEqual([third.id]);
    });

    it('times tasks out and retries them: [0, 300, 700, 1000] with timeout 500 and 3 attempts', async () => {
      await t.register();
      aborted.length = 0;
      const workflow = WorkFlow.create('timeouts')
        .addStep({
          step: sleeper,
          tasks: [0, 300, 700, 1000],
          options: { taskTimeout: 500, taskMaxFailCount: 3, taskConcurrency: 4 },
        })
        .run();
      const failure = await workflow.done().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const tasks = (failure as WorkflowFailedError).result.steps[0]?.tasks ?? [];
      const byValue = new Map(tasks.map((task) => [task.data as number, task]));
      for (const quick of [0, 300]) {
        expect(byValue.get(quick)).toMatchObject({ status: 'succeeded', result: quick, failedCount: 0 });
      }
      for (const slow of [700, 1000]) {
        const task = byValue.get(slow);
        expect(task).toMatchObject({ status: 'failed', failedCount: 3, result: undefined });
        expect(task?.error).toMatchObject({ name: 'TimeoutError', code: new TimeoutError('', 0).code });
        expect(task?.error?.message).toMatch(/timed out after 500 ms/);
      }
      // Each timed-out attempt aborted its task's signal.
      expect(aborted.filter((v) => v === 700)).toHaveLength(3);
      expect((failure as WorkflowFailedError).message).toMatch(/2 of 4 tasks failed/);
    });

    it('retries a failing task until it succeeds and counts its attempts (nextTask per attempt)', async () => {
      await t.register();
      const tasks = [10, 1, 20, 30, 40];
      const workflow = WorkFlow.create('retry-then-succeed')
        .addStep({ step: failWhenValueIs1, tasks, options: { taskTimeout: 1000, taskConcurrency: 2, taskMaxFailCount: 3 } })
        .run();
      let nextTaskEvents = 0;
      workflow.on('nextTask', () => nextTaskEvents++);
      const result = await workflow.done();
      const stepTasks = result.steps[0]?.tasks ?? [];
      const retried = stepTasks.filter((task) => task.failedCount > 0);
      expect(retried).toHaveLength(1);
      expect(retried[0]).toMatchObject({ data: 1, failedCount: 2, result: 1, status: 'succeeded' });
      expect(stepTasks.filter((task) => task.failedCount === 0).map((task) => task.result)).toEqual([10, 20, 30, 40]);
      expect(nextTaskEvents).toBe(tasks.length - 1 + 3);
    });

    it('saves a failed task with its error', async () => {
      await t.register();
      const workflow = WorkFlow.create('failed-task').addStep({ step: throwWhenValueIs1, tasks: [10, 1] }).run();
      const failure = (await workflow.done().catch((error: unknown) => error)) as WorkflowFailedError;
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect(failure.status).toBe('failed');
      const [ok, failed] = failure.result.steps[0]?.tasks ?? [];
      expect(ok).toMatchObject({ data: 10, result: 10, failedCount: 0, status: 'succeeded' });
      expect(failed).toMatchObject({ data: 1, result: undefined, failedCount: 1, status: 'failed' });
      expect(failed?.error).toMatchObject({ name: 'Error', message: 'failed' });
      expect(failed?.error?.stack).toContain('failed');
      // The stored state says the same.
      const stored = await workflow.results();
      expect(stored.steps[0]?.tasks[1]?.error?.message).toBe('failed');
      expect(stored.error?.message).toMatch(/step "ports-throw-when-1" failed: 1 of 2 tasks failed/);
    });

    it('runs 100 steps chained with addAfter, in order', async () => {
      await t.register();
      const result = await WorkFlow.create('chained').addStep({ step: chain, tasks: [{ value: 1 }] }).run().done();
      expect(result.steps).toHaveLength(100);
      expect(result.steps.flatMap((step) => step.tasks.map((task) => (task.data as { value: number }).value))).toEqual(
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      expect(result.steps.map((step) => step.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    });

    it('runs steps added from beforeAll, handler and afterAll in the documented order', async () => {
      await t.register();
      const values = ['step1', 'step2', 'step3', 'step4', 'step5', 'step6', 'step7', 'step8', 'step9', 'step10', 'step11', 'step12'];
      const handlers: Record<string, StepHandler<unknown, Valued, string>> = { step3, step6 };
      let workflow = WorkFlow.create('ordered');
      for (const value of values) workflow = workflow.addStep({ step: handlers[value] ?? ordinary, tasks: [{ value }] });
      workflow.run();
      const order: string[] = [];
      workflow.on('nextTask', (next) => order.push((next.data as Valued).value));
      const result = await workflow.done();
      const expected = [
        'step1',
        'step2',
        'step3Before',
        'step3',
        'step3After',
        'step3AfterAfter',
        'step4',
        'step5',
        'step6',
        'step6After',
        'step7',
        'step8',
        'step9',
        'step10',
        'step11',
        'step12',
      ];
      expect(order).toEqual(expected);
      // results() lists steps in execution order too.
      expect(result.steps.map((step) => step.tasks[0]?.result)).toEqual(expected);
      const added = result.steps.find((step) => step.tasks[0]?.result === 'step3Before');
      expect(added?.parentKey).toBe(`${workflow.id}:3`);
    });

    it('runs every step added in the same millisecond, in call order', async () => {
      await t.register();
      const burst = new StepHandler<unknown, number, number>({
        name: 'ports-burst',
        async beforeAll(step) {
          for (let i = 1; i <= 20; i++) await step.addAfter({ step: double, tasks: [i] });
        },
        handler: (task) => task.data,
      });
      const result = await WorkFlow.create('burst').addStep({ step: burst, tasks: [0] }).run().done();
      expect(result.steps.map((step) => step.tasks[0]?.result)).toEqual([...Array.from({ length: 20 }, (_, i) => (i + 1) * 2), 0]);
    });
  });
}
