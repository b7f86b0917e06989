/**
 * Timers are durable: a step waiting for its delay is a stored record, not a timer in some
 * process. Every node is killed while it waits; a node started after its due time runs it.
 * The same holds for a task added with a delay.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import delayedEcho from '../fixtures/steps/delayed-echo.js';
import echo from '../fixtures/steps/echo.js';
import { startNode } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';
import { echoResults, starts } from './process-tools.js';

export function timerProcesses(t: Conformance): void {
  describe('timers across processes', () => {
    it('runs a delayed step on a node started after its due time, every node having been killed while it waited', async () => {
      const first = await startNode(t.options());
      await t.register({ worker: false });
      const { backend } = await DeFlow.getInstance().services();
      const workflow = WorkFlow.create('durable-timer')
        .addStep({ name: 'now', step: echo, tasks: [{ value: 1 }] })
        .addStep({ name: 'later', step: echo, tasks: [{ value: 2 }], delay: 2_500 })
        .run();
      // The first step ran, and the second waits for its time.
      const waiting = await eventually(async () => {
        const later = (await backend.getSteps(workflow.id)).find((step) => step.name === 'later');
        return later?.readyAt !== null && later?.status === 'waiting' ? later : undefined;
      });
      await first.kill('SIGKILL');
      expect(starts([first])).toEqual([1]);
      // Nobody is left to run it; the time passes (on the backend's clock).
      const readyAt = waiting.readyAt ?? Infinity;
      await eventually(async () => ((await backend.now()) > readyAt + 200 ? true : undefined), 30_000, 100);
      expect((await backend.getSteps(workflow.id)).find((step) => step.name === 'later')?.status).toBe('waiting');

      const second = await startNode(t.options());
      const result = await workflow.done();
      expect(echoResults(result, 1).map((r) => r.pid)).toEqual([second.pid]);
      // The node's start report comes over IPC, which may arrive after done() resolves.
      await eventually(() => (starts([second]).length > 0 ? true : undefined), 30_000);
      expect(starts([second])).toEqual([2]);
      const later = (await backend.getSteps(workflow.id)).find((step) => step.name === 'later');
      expect(later?.readyAt).toBe(waiting.readyAt);
      expect(later?.startedAt).toBeGreaterThanOrEqual(readyAt);
    });
  });
}

export function taskDelayProcesses(t: Conformance): void {
  describe('delayed tasks across processes', () => {
    it('runs a delayed task on a node started after its due time, every node having been killed while it waited', async () => {
      const first = await startNode(t.options());
      await t.register({ worker: false });
      const { backend } = await DeFlow.getInstance().services();
      const addedBefore = await backend.now();
      const workflow = WorkFlow.create('durable-task-delay')
        .addStep({ name: 'mixed', step: delayedEcho, data: { fresh: [{ value: 1 }], delayed: [{ value: 2 }], delayMs: 2_500 } })
        .run();
      // The fresh task ran; the delayed one is stored and waits.
      await eventually(() => (starts([first]).includes(1) ? true : undefined), 30_000);
      await eventually(async () => ((await backend.getSteps(workflow.id))[0]?.counts.total === 2 ? true : undefined));
      await first.kill('SIGKILL');
      expect(starts([first])).toEqual([1]);
      // Nobody is left to run it; its time passes (on the backend's clock).
      await eventually(async () => ((await backend.now()) > addedBefore + 2_700 ? true : undefined), 30_000, 100);
      expect((await backend.getSteps(workflow.id))[0]?.status).toBe('running');

      const second = await startNode(t.options());
      const result = await workflow.done();
      expect(echoResults(result).map((r) => [r.value, r.pid])).toEqual([
        [1, first.pid],
        [2, second.pid],
      ]);
      await eventually(() => (starts([second]).length > 0 ? true : undefined), 30_000);
      expect(starts([second])).toEqual([2]);
    });
  });
}
