/**
 * Priorities (docs/concepts.md#priorities): runnable steps are listed, so claimed, highest
 * priority first, FIFO (oldest workflow first) within one priority. A workflow's priority is the
 * default of its steps; a step's own option wins.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';

/** Workflow ids in the order their tasks started in this process. */
const order: string[] = [];
const echo = new StepHandler<unknown, number, number>({
  name: 'priorities-echo',
  handler(task) {
    order.push(task.stepKey.slice(0, task.stepKey.lastIndexOf(':')));
    return task.data;
  },
});

/** Creates a one-step workflow nobody runs (worker: false) and returns its id. */
async function stored(name: string, options: { priority?: number }, stepPriority?: number): Promise<string> {
  const step = stepPriority === undefined ? { step: echo, tasks: [1] } : { step: echo, tasks: [1], options: { priority: stepPriority } };
  const workflow = WorkFlow.create(name, options).addStep(step).run();
  await workflow.started();
  return workflow.id;
}

export function priorities(t: Conformance): void {
  describe('priorities', () => {
    it('lists runnable steps highest priority first, FIFO within a priority', async () => {
      await t.register({ worker: false });
      const low1 = await stored('low-1', {});
      const high1 = await stored('high-1', { priority: 10 });
      const low2 = await stored('low-2', { priority: 0 });
      const negative = await stored('negative', { priority: -5 });
      const high2 = await stored('high-2', { priority: 10 });
      const stepWins = await stored('step-wins', { priority: 1 }, 20);
      const { backend } = await DeFlow.getInstance().services();
      const { steps } = await backend.runnableSteps(100);
      expect(steps.map((step) => step.workflowId)).toEqual([stepWins, high1, high2, low1, low2, negative]);
      expect(steps[0]?.options.priority).toBe(20);
    });

    it('runs a high-priority workflow before low-priority ones that were created first', async () => {
      await t.register({ worker: false });
      const lows = [await stored('low-a', {}), await stored('low-b', {})];
      const high = await stored('high', { priority: 5 });
      const { backend } = await DeFlow.getInstance().services();
      await backend.registerNode({ id: 'prio-node', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      // A node that takes the first runnable step claims the high-priority one, though the low ones are older.
      const first = (await backend.runnableSteps(1)).steps[0];
      expect(first?.workflowId).toBe(high);
      const claim = await backend.claim({ nodeId: 'prio-node', workflowId: high, stepId: first?.stepId ?? '', limit: 5 });
      expect(claim.jobs).toHaveLength(1);
      expect((await backend.runnableSteps(10)).steps.map((step) => step.workflowId)).toEqual(lows);
    });

    // On a Redis Cluster the claims of one round go to different masters and are answered in any order.
    const startOrder = t.backend.differs?.startOrder;
    const title = 'has a node that finds low- and high-priority work ready start the high-priority task first';
    (startOrder === undefined ? it : it.skip)(startOrder === undefined ? title : `${title} (skipped: ${startOrder})`, async () => {
      // Stored by a process that runs nothing, then a worker joins and finds all of it ready.
      await t.register({ worker: false });
      for (let i = 0; i < 40; i++) await stored(`low-${i}`, {});
      const high = await stored('urgent', { priority: 3 });
      await DeFlow.unregister();
      order.length = 0;
      await t.register();
      const workflow = await WorkFlow.getById(high);
      await workflow?.done();
      await eventually(() => (order.length === 41 ? true : undefined));
      expect(order.indexOf(high)).toBeLessThan(3);
    });
  });
}
