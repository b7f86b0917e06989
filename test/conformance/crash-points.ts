/**
 * A node crashes exactly at a named fault point (src/fault-points.ts, armed in the child through
 * DEFLOW_TEST_FAULTS); a survivor started afterwards finishes the workflow. Whatever the window,
 * each task's result is recorded once, each transition fires once, and steps a hook added with
 * addAfter exist once although the hook ran again.
 */
import { describe, expect, it } from 'vitest';
import { WorkFlow } from '../../src/index.js';
import type { WorkflowResult } from '../../src/index.js';
import type { FaultPointName } from '../../src/fault-points.js';
import addsAfter, { ADDED_BY } from '../fixtures/steps/adds-after.js';
import type { AddingHook } from '../fixtures/steps/adds-after.js';
import echo from '../fixtures/steps/echo.js';
import { startNode } from '../helpers/nodes.js';
import type { NodeProcess } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { echoResults, expectCrashedAt, expectStoredOnce, expireLease, nodeIdOf, starts } from './process-tools.js';

interface Crashed {
  result: WorkflowResult;
  victim: NodeProcess;
  survivor: NodeProcess;
  /** Step ids of the 'step' events the workflow's handle heard, in order. */
  stepEvents: string[];
}

/**
 * Runs `workflow` with only a victim node, armed to crash at `point` (on its `hit`-th pass);
 * once it died there, ends its lease and starts a survivor that finishes the work.
 */
async function crashAt(t: Conformance, point: FaultPointName, hit: number, workflow: () => WorkFlow): Promise<Crashed> {
  const options = { ...t.options(), leaseMs: 1_000, checkProcessQueueInterval: 200 };
  await t.register({ leaseMs: 1_000, worker: false });
  const victim = await startNode(options, { faults: `${point}=crash@${hit}` });
  const victimId = await nodeIdOf(victim);
  const handle = workflow();
  const stepEvents: string[] = [];
  handle.on('step', (event) => stepEvents.push(event.stepId));
  const done = handle.done();
  done.catch(() => undefined);
  // A point never reached would let the victim finish the work: fail at once, not at the timeout.
  const finishedFirst = done.then(() => {
    throw new Error(`the workflow ended without the victim reaching ${point} (hit ${hit})`);
  });
  finishedFirst.catch(() => undefined); // once the victim crashed, the workflow ending is expected
  await Promise.race([victim.exited, finishedFirst]);
  await expectCrashedAt(victim, point);
  await expireLease(t, victimId);
  const survivor = await startNode(options);
  const result = await done;
  return { result, victim, survivor, stepEvents };
}

/** Every step finished once: one 'step' event each, and the result lists each step once. */
function expectEachStepOnce({ result, stepEvents }: Crashed): void {
  expect(result.status).toBe('succeeded');
  const ids = result.steps.map((step) => step.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...stepEvents].sort()).toEqual([...ids].sort());
}

const HOOK_HITS: [AddingHook, number][] = [
  ['beforeAll', 1],
  ['handler', 2],
  ['afterAll', 3],
];

export function crashPoints(t: Conformance): void {
  describe('Crash at a named fault point', () => {
    it('claim:before-start: the claimed jobs go to the survivor, none started twice', async () => {
      const tasks = Array.from({ length: 20 }, (_, i) => ({ value: i, ms: 5 }));
      const crashed = await crashAt(t, 'claim:before-start', 1, () =>
        WorkFlow.create('crash-claim').addStep({ step: echo, tasks, options: { taskConcurrency: 2 } }).run(),
      );
      const { result, victim, survivor } = crashed;
      expectEachStepOnce(crashed);
      expect(starts([victim])).toEqual([]);
      expect(starts([survivor]).sort((a, b) => a - b)).toEqual(tasks.map((task) => task.value));
      expect(echoResults(result).map((r) => [r.value, r.pid])).toEqual(tasks.map((task) => [task.value, survivor.pid]));
      // What it had claimed counts one node loss; a node's death alone fails no attempt.
      const recorded = result.steps[0]?.tasks ?? [];
      expect(recorded.every((task) => task.status === 'succeeded' && task.failedCount === 0)).toBe(true);
      expect(recorded.filter((task) => task.lostCount === 1).length).toBeGreaterThan(0);
      expect(recorded.every((task) => task.lostCount <= 1)).toBe(true);
      await expectStoredOnce(t, tasks.length);
    });

    it('handler:before-complete: the task whose result was never sent runs again, recorded once', async () => {
      const tasks = Array.from({ length: 10 }, (_, i) => ({ value: i, ms: 5 }));
      const crashed = await crashAt(t, 'handler:before-complete', 1, () =>
        WorkFlow.create('crash-handler').addStep({ step: echo, tasks, options: { taskConcurrency: 1 } }).run(),
      );
      const { result, victim, survivor } = crashed;
      expectEachStepOnce(crashed);
      // One lane: the victim ran exactly one handler, and died before reporting it.
      const [lostValue, ...others] = starts([victim]);
      expect(others).toEqual([]);
      const recorded = result.steps[0]?.tasks ?? [];
      expect(echoResults(result).map((r) => r.value)).toEqual(tasks.map((task) => task.value));
      expect(echoResults(result).every((r) => r.pid === survivor.pid)).toBe(true);
      expect(recorded.find((task) => (task.data as { value: number }).value === lostValue)).toMatchObject({ status: 'succeeded', failedCount: 0, lostCount: 1 });
      expect(recorded.every((task) => task.status === 'succeeded')).toBe(true);
      expect(starts([survivor]).sort((a, b) => a - b)).toEqual(tasks.map((task) => task.value));
      await expectStoredOnce(t, tasks.length);
    });

    for (const [hook, hit] of HOOK_HITS) {
      it(`hook:after-add-after in ${hook}: the hook runs again, the step it added exists once`, async () => {
        const crashed = await crashAt(t, 'hook:after-add-after', hit, () => WorkFlow.create(`crash-${hook}`).addStep({ step: addsAfter, tasks: [7] }).run());
        const { result, victim, survivor } = crashed;
        expectEachStepOnce(crashed);
        const ran = (node: NodeProcess): string[] => node.messages.filter((m) => m.type === 'hook').map((m) => String(m.hook));
        expect(ran(victim).at(-1)).toBe(hook);
        expect(ran(survivor).filter((name) => name === hook)).toHaveLength(1);
        expect(result.steps.map((step) => step.name)).toEqual([ADDED_BY.beforeAll, 'fixture-adds-after', ADDED_BY.handler, ADDED_BY.afterAll]);
        expect(result.steps.map((step) => step.tasks.map((task) => task.status))).toEqual([['succeeded'], ['succeeded'], ['succeeded'], ['succeeded']]);
        expect(result.steps[1]?.tasks[0]?.result).toBe(7);
        // Each added step's task ran once (its value announced once across both nodes).
        for (const value of [100, 200, 300]) expect(starts([victim, survivor]).filter((v) => v === value)).toHaveLength(1);
      });
    }

    it('complete:in-transition: the completion and the transition it fires happen once', async () => {
      const crashed = await crashAt(t, 'complete:in-transition', 1, () =>
        WorkFlow.create('crash-complete')
          .addStep({ name: 'first', step: echo, tasks: [{ value: 1 }] })
          .addStep({ name: 'second', step: echo, tasks: [{ value: 2 }, { value: 3 }] })
          .run(),
      );
      const { result, victim, survivor } = crashed;
      expectEachStepOnce(crashed);
      expect(result.steps.map((step) => [step.name, step.tasks.length])).toEqual([
        ['first', 1],
        ['second', 2],
      ]);
      expect(echoResults(result, 1).map((r) => r.value)).toEqual([2, 3]);
      expect(starts([victim])).toEqual([1]);
      const first = result.steps[0]?.tasks[0];
      if (t.backend.name === 'sqlite') {
        // The point sits inside the write transaction: the crash rolled it back, the task ran again.
        expect(first).toMatchObject({ status: 'succeeded', failedCount: 0, lostCount: 1, result: { value: 1, pid: survivor.pid } });
        expect(starts([survivor]).filter((v) => v === 1)).toHaveLength(1);
      } else {
        // The call reached the server, which applied it: the survivor does not run the task again.
        expect(first).toMatchObject({ status: 'succeeded', failedCount: 0, lostCount: 0, result: { value: 1, pid: victim.pid } });
        expect(starts([survivor]).filter((v) => v === 1)).toEqual([]);
      }
    });
  });
}
