/**
 * Delayed tasks (step.addTasks(tasks, { delay }), docs/concepts.md#timers): a task added with a
 * delay starts no earlier than the delay after the call, on the backend's clock, even with fresh
 * tasks added before and after it (no range lease of fresh tasks hands it out early); its step
 * does not finish before it ran; a paused workflow holds it until resume. Times are read on the
 * backend's clock, never from sleeps.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, ValidationError, WorkFlow } from '../../src/index.js';
import type { StepOptions } from '../../src/index.js';
import type { Backend } from '../../src/backends/backend.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';

async function backendOf(): Promise<Backend> {
  return (await DeFlow.getInstance().services()).backend;
}

/** When each task (by its data) started, and when its addTasks call was made, on the backend's clock. */
const startedAt = new Map<string, number>();
const calledAt = new Map<string, number>();

/** Keeps the first time: a task handed out early and run again later must still show. */
async function note(map: Map<string, number>, key: string): Promise<void> {
  const now = await (await backendOf()).now();
  if (!map.has(key)) map.set(key, now);
}

function mixed(delay: number, tag: string, options: Partial<StepOptions> = {}): StepHandler<unknown, string, string> {
  return new StepHandler<unknown, string, string>({
    name: `task-delay-${tag}`,
    options,
    async beforeAll(step) {
      // Fresh, delayed, fresh: the delayed task sits between fresh ones in seq order.
      await step.addTasks([`${tag}-a`]);
      await note(calledAt, `${tag}-d`);
      await step.addTasks([`${tag}-d`], { delay });
      await step.addTasks([`${tag}-b`, `${tag}-c`]);
    },
    async handler(task) {
      await note(startedAt, task.data);
      return task.data;
    },
  });
}

const quick = mixed(1_200, 'quick');
const held = mixed(3_000, 'held');
// A limited step leases its tasks alone (the limit rule), past the cursor: it skips delayed ones too.
const limited = mixed(1_200, 'limited', { globalConcurrency: 2 });
const long = mixed(60_000, 'long');

const badDelay = new StepHandler<unknown, number, string>({
  name: 'task-delay-bad',
  async handler(_task, step) {
    const messages: string[] = [];
    for (const options of [{ delay: -1 }, { delay: '5s' }, { delay: 2 ** 31 }, { delay: 1.5 }, { later: 1 }]) {
      const error = await step.addTasks([1], options as { delay: number }).catch((e: unknown) => e);
      messages.push(error instanceof ValidationError ? error.message : 'accepted');
    }
    return messages.join('\n');
  },
});

export function taskDelay(t: Conformance): void {
  describe('delayed tasks', () => {
    it('starts a delayed task no earlier than its delay after the call, between fresh ones, and the step waits for it', async () => {
      await t.register();
      const result = await WorkFlow.create('task-delay').addStep({ name: 'mixed', step: quick }).run().done();
      const tasks = result.steps[0]?.tasks ?? [];
      expect(tasks.map((task) => task.result)).toEqual(['quick-a', 'quick-d', 'quick-b', 'quick-c']);
      expect(startedAt.get('quick-d')).toBeGreaterThanOrEqual((calledAt.get('quick-d') ?? Infinity) + 1_200);
      // The fresh tasks did not wait for it.
      expect(startedAt.get('quick-b')).toBeLessThan(startedAt.get('quick-d') ?? -Infinity);
    });

    it('delays a task of a step with globalConcurrency alike', async () => {
      await t.register();
      const result = await WorkFlow.create('task-delay-limited').addStep({ name: 'mixed', step: limited }).run().done();
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual(['limited-a', 'limited-d', 'limited-b', 'limited-c']);
      expect(startedAt.get('limited-d')).toBeGreaterThanOrEqual((calledAt.get('limited-d') ?? Infinity) + 1_200);
    });

    it('holds a delayed task of a paused workflow past its due time; it runs on resume', async () => {
      await t.register();
      const workflow = WorkFlow.create('task-delay-paused').addStep({ name: 'mixed', step: held }).run();
      // The fresh tasks ran; the delayed one waits.
      await eventually(() => (startedAt.has('held-c') && startedAt.has('held-a') ? true : undefined));
      expect(await DeFlow.pause(workflow.id)).toBe(true);
      const backend = await backendOf();
      const due = (calledAt.get('held-d') ?? Infinity) + 3_000;
      await eventually(async () => ((await backend.now()) > due + 500 ? true : undefined), 10_000, 20);
      expect(startedAt.has('held-d')).toBe(false);
      expect((await backend.getSteps(workflow.id))[0]?.status).toBe('running');
      const resumedAt = await backend.now();
      expect(await DeFlow.resume(workflow.id)).toBe(true);
      const result = await workflow.done();
      expect(result.steps[0]?.tasks.map((task) => task.result)).toContain('held-d');
      expect(startedAt.get('held-d')).toBeGreaterThanOrEqual(resumedAt);
    });

    it('makes a delayed task ready at once when a retry takes its cancelled step up again', async () => {
      await t.register();
      const workflow = WorkFlow.create('task-delay-retry').addStep({ name: 'mixed', step: long }).run();
      await eventually(() => (startedAt.has('long-a') && startedAt.has('long-c') ? true : undefined));
      // The step waits for its delayed task: still running with three of four done.
      const backend = await backendOf();
      await eventually(async () => ((await backend.getSteps(workflow.id))[0]?.counts.done === 3 ? true : undefined));
      expect((await backend.getSteps(workflow.id))[0]?.status).toBe('running');
      expect(await workflow.cancel()).toBe(true);
      await DeFlow.retry(workflow.id);
      const result = await workflow.done();
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual(['long-a', 'long-d', 'long-b', 'long-c']);
      expect(startedAt.get('long-d')).toBeLessThan((calledAt.get('long-d') ?? -Infinity) + 60_000);
    });

    it('refuses a bad delay at the call, naming the option', async () => {
      await t.register();
      const result = await WorkFlow.create('task-delay-bad').addStep({ step: badDelay, tasks: [1] }).run().done();
      const messages = String(result.steps[0]?.tasks[0]?.result).split('\n');
      expect(messages[0]).toMatch(/step\.addTasks\(\) options: delay must be a non-negative integer/);
      expect(messages[1]).toMatch(/delay must be a non-negative integer/);
      expect(messages[2]).toMatch(/delay must be at most 2147483647 ms/);
      expect(messages[3]).toMatch(/delay must be a non-negative integer/);
      expect(messages[4]).toMatch(/unknown option "later"/);
      expect(result.steps[0]?.tasks).toHaveLength(1);
    });
  });
}
