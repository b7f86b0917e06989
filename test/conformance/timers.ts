/**
 * Durable timers and retry backoff (docs/concepts.md#timers, docs/backends/step-machine.md):
 * a step with `delay` or `startAt` waits, once its turn comes, until its due time on the
 * backend's clock; retries wait by the step's backoff. Times are read from the records the
 * backend stores (its clock), never from sleeps.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, ValidationError, WorkFlow } from '../../src/index.js';
import type { Backend, StepRecord } from '../../src/backends/backend.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';

async function backendOf(): Promise<Backend> {
  return (await DeFlow.getInstance().services()).backend;
}

async function stepsByName(workflowId: string): Promise<Map<string, StepRecord>> {
  return new Map((await (await backendOf()).getSteps(workflowId)).map((step) => [step.name, step]));
}

const echo = new StepHandler<unknown, number, number>({ name: 'timers-echo', handler: (task) => task.data });

const adder = new StepHandler<unknown, number, number>({
  name: 'timers-adder',
  async handler(task, step) {
    await step.addAfter({ step: echo, name: 'later', tasks: [task.data], delay: 800 });
    return task.data;
  },
});

const badAdder = new StepHandler<unknown, number, string>({
  name: 'timers-bad-adder',
  async handler(_task, step) {
    const error = await step.addAfter({ step: echo, tasks: [1], delay: -5 }).catch((e: unknown) => e);
    return error instanceof ValidationError ? error.message : 'accepted';
  },
});

const attemptTimes = new Map<string, number[]>();
const flaky = new StepHandler<unknown, string, string>({
  name: 'timers-flaky',
  handler(task) {
    const times = attemptTimes.get(task.data) ?? [];
    times.push(Date.now());
    attemptTimes.set(task.data, times);
    if (task.failedCount < 3) throw new Error(`attempt ${task.failedCount + 1} fails`);
    return task.data;
  },
});

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((time, i) => time - (times[i] ?? time));
}

export function timers(t: Conformance): void {
  describe('timers', () => {
    it('starts a delayed step no earlier than its delay after its dependencies, and shows when', async () => {
      await t.register();
      const workflow = WorkFlow.create('timers-delay')
        .addStep({ name: 'first', step: echo, tasks: [1] })
        .addStep({ name: 'second', step: echo, tasks: [2], delay: 1500 })
        .run();
      // While it waits, its record says until when.
      const waiting = await eventually(async () => {
        const second = (await stepsByName(workflow.id)).get('second');
        return second?.readyAt !== null && second?.status === 'waiting' ? second : undefined;
      });
      await workflow.done();
      const steps = await stepsByName(workflow.id);
      const first = steps.get('first');
      const second = steps.get('second');
      expect(second?.readyAt).toBe(waiting.readyAt);
      expect(second?.readyAt).toBeGreaterThanOrEqual((first?.finishedAt ?? Infinity) + 1500 - 1);
      expect(second?.startedAt).toBeGreaterThanOrEqual(second?.readyAt ?? Infinity);
      expect(first?.readyAt).toBeNull();
    });

    it('starts a step with startAt no earlier than that time; a time already past starts it at once', async () => {
      await t.register();
      const backend = await backendOf();
      const startAt = (await backend.now()) + 1200;
      const workflow = WorkFlow.create('timers-start-at')
        .addStep({ name: 'scheduled', step: echo, tasks: [1], startAt: new Date(startAt), dependsOn: [] })
        .addStep({ name: 'past', step: echo, tasks: [2], startAt: 1, dependsOn: [] })
        .run();
      await workflow.done();
      const steps = await stepsByName(workflow.id);
      expect(steps.get('scheduled')?.readyAt).toBe(startAt);
      expect(steps.get('scheduled')?.startedAt).toBeGreaterThanOrEqual(startAt);
      expect(steps.get('past')?.startedAt).toBeLessThan(startAt);
      expect(steps.get('past')?.readyAt).toBe(1);
    });

    it('holds a paused workflow\'s timer until resume, drops a cancelled one\'s, and a retry sets it again', async () => {
      await t.register({ worker: false });
      const backend = await backendOf();
      const startAt = (await backend.now()) + 300;
      const paused = WorkFlow.create('timers-paused').addStep({ name: 'timed', step: echo, tasks: [1], startAt }).run();
      const cancelled = WorkFlow.create('timers-cancelled').addStep({ name: 'timed', step: echo, tasks: [2], delay: 300 }).run();
      await paused.started();
      await cancelled.started();
      expect((await stepsByName(paused.id)).get('timed')?.readyAt).toBe(startAt);
      expect(await DeFlow.pause(paused.id)).toBe(true);
      expect(await DeFlow.cancel(cancelled.id)).toBe(true);
      const cancelledStep = (await stepsByName(cancelled.id)).get('timed');
      expect(cancelledStep).toMatchObject({ status: 'waiting', readyAt: null });

      // Both would be due now: neither starts, and no node is told to look for them.
      await eventually(async () => ((await backend.now()) > startAt + 300 ? true : undefined), 5_000, 10);
      const quiet = await backend.runnableSteps(10);
      expect(quiet.steps).toEqual([]);
      expect(quiet.nextRunAt).toBeNull();
      expect((await stepsByName(paused.id)).get('timed')?.status).toBe('waiting');

      // Resume: the timer that fell due meanwhile fires.
      expect((await backend.controlWorkflow({ workflowId: paused.id, action: 'resume' }))?.changed).toBe(true);
      const resumed = await backend.runnableSteps(10);
      expect(resumed.steps.map((step) => [step.workflowId, step.name])).toEqual([[paused.id, 'timed']]);
      expect((await stepsByName(paused.id)).get('timed')?.startedAt).toBeGreaterThanOrEqual(startAt);

      // Retry of the cancelled one: its step's turn comes again, and so does its delay.
      const retriedAt = await backend.now();
      await backend.retryWorkflow({ workflowId: cancelled.id });
      const again = (await stepsByName(cancelled.id)).get('timed');
      expect(again?.status).toBe('waiting');
      expect(again?.readyAt).toBeGreaterThanOrEqual(retriedAt + 300);
      expect((await backend.runnableSteps(10)).nextRunAt).toBe(again?.readyAt);
      const due = again?.readyAt ?? Infinity;
      await eventually(async () => ((await backend.now()) >= due ? true : undefined), 5_000, 10);
      const fired = await backend.runnableSteps(10);
      expect(fired.steps.map((step) => [step.workflowId, step.name])).toContainEqual([cancelled.id, 'timed']);
    });

    it('delays a step added with addAfter, counted from its turn', async () => {
      await t.register();
      const workflow = WorkFlow.create('timers-add-after').addStep({ name: 'anchor', step: adder, tasks: [5] }).run();
      const result = await workflow.done();
      expect(result.steps.map((step) => step.name)).toEqual(['anchor', 'later']);
      const later = (await stepsByName(workflow.id)).get('later');
      const anchor = (await stepsByName(workflow.id)).get('anchor');
      expect(later?.readyAt).toBeGreaterThanOrEqual((anchor?.startedAt ?? Infinity) + 800);
      expect(later?.startedAt).toBeGreaterThanOrEqual(later?.readyAt ?? Infinity);
      expect(anchor?.finishedAt).toBeGreaterThanOrEqual(later?.finishedAt ?? Infinity);
    });

    it('skips a delayed step whose dependency failed, without waiting for its time', async () => {
      await t.register();
      const failing = new StepHandler<unknown, number, number>({
        name: 'timers-failing',
        handler() {
          throw new Error('no');
        },
      });
      const workflow = WorkFlow.create('timers-skip')
        .addStep({ name: 'broken', step: failing, tasks: [1] })
        .addStep({ name: 'never', step: echo, tasks: [2], delay: 60_000 })
        .run();
      await expect(workflow.done()).rejects.toThrow(/failed/);
      const never = (await stepsByName(workflow.id)).get('never');
      expect(never?.status).toBe('skipped');
      expect(never?.readyAt).toBeNull();
    });

    it('refuses a bad delay or startAt at the call, saying what is wrong', async () => {
      await t.register();
      const add = (params: Record<string, unknown>) => () => WorkFlow.create('timers-bad').addStep({ step: echo, ...params });
      expect(add({ delay: -1 })).toThrow(ValidationError);
      expect(add({ delay: 2 ** 31 })).toThrow(/delay must be at most 2147483647 ms/);
      expect(add({ delay: '5s' })).toThrow(/delay must be a non-negative integer/);
      expect(add({ startAt: new Date('not a date') })).toThrow(/startAt must be a valid Date or epoch milliseconds .* got an invalid Date/);
      expect(add({ startAt: 'tomorrow' })).toThrow(/startAt must be a valid Date/);
      expect(add({ options: { taskRetryBackoff: 'linear' } })).toThrow(/taskRetryBackoff must be "fixed" or "exponential"/);
      expect(add({ options: { taskRetryDelayMax: 2 ** 31 } })).toThrow(/taskRetryDelayMax must be at most/);
      const result = await WorkFlow.create('timers-bad-after').addStep({ step: badAdder, tasks: [1] }).run().done();
      expect(result.steps[0]?.tasks[0]?.result).toMatch(/step\.addAfter\(\): delay must be a non-negative integer/);
    });

    it('waits taskFailRetryDelay before every retry with fixed backoff', async () => {
      await t.register();
      const result = await WorkFlow.create('timers-fixed')
        .addStep({ step: flaky, tasks: ['fixed'], options: { taskMaxFailCount: 4, taskFailRetryDelay: 250 } })
        .run()
        .done();
      expect(result.steps[0]?.tasks[0]).toMatchObject({ result: 'fixed', failedCount: 3 });
      const waits = gaps(attemptTimes.get('fixed') ?? []);
      expect(waits).toHaveLength(3);
      for (const wait of waits) expect(wait).toBeGreaterThanOrEqual(240);
    });

    it('caps exponential backoff at taskRetryDelayMax', async () => {
      await t.register();
      // Uncapped, the third retry could wait up to 40 s; the cap keeps every wait under 300 ms.
      const result = await WorkFlow.create('timers-exponential')
        .addStep({
          step: flaky,
          tasks: ['exponential'],
          options: { taskMaxFailCount: 4, taskFailRetryDelay: 10_000, taskRetryBackoff: 'exponential', taskRetryDelayMax: 300 },
        })
        .run()
        .done();
      expect(result.steps[0]?.tasks[0]).toMatchObject({ result: 'exponential', failedCount: 3 });
      const waits = gaps(attemptTimes.get('exponential') ?? []);
      expect(waits).toHaveLength(3);
      // Generous for a loaded machine, and far below the uncapped 10 s / 20 s / 40 s.
      for (const wait of waits) expect(wait).toBeLessThan(3_000);
    });
  });
}
