/**
 * Named queues across real node processes (docs/concepts.md#queues): node A serves only the
 * default queue, node B only 'billing'. A workflow with a step on each runs each step on its
 * node, and B finds its step at once although 10,000 older jobs of the default queue, which it
 * cannot run, are ready: it runs it before A has worked through them.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';
import { startNode } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';
import { echoResults } from './process-tools.js';

/** 200 workflows of 50 tasks: more runnable steps than one discovery round reads. */
const BACKLOG_WORKFLOWS = 200;
const TASKS_EACH = 50;

export function queueProcesses(t: Conformance): void {
  describe('queues across node processes', () => {
    it("runs each step on the node serving its queue, and B's step at once behind 10,000 ready jobs of A's queue", async () => {
      const billingNode = await startNode({ ...t.options(), queues: ['billing'] });
      await t.register({ worker: false });
      const backlog: string[] = [];
      for (let i = 0; i < BACKLOG_WORKFLOWS; i++) {
        const tasks = Array.from({ length: TASKS_EACH }, (_, n) => ({ value: n, ms: 50 }));
        const workflow = WorkFlow.create(`backlog-${i}`).addStep({ step: echo, tasks }).run();
        await workflow.started();
        backlog.push(workflow.id);
      }
      const defaultNode = await startNode({ ...t.options(), queues: ['default'] });
      const { backend } = await DeFlow.getInstance().services();
      await eventually(async () => ((await backend.listNodes()).length === 2 ? true : undefined));
      expect((await backend.listNodes()).map((node) => node.queues).sort()).toEqual([['billing'], ['default']]);

      // The billing step names its handler by its registered name; the creator needs none of its code.
      const mixed = WorkFlow.create('order')
        .addStep({ step: 'fixture-echo', name: 'charge', tasks: [{ value: 1 }], options: { queue: 'billing' } })
        .addStep({ step: echo, name: 'ship', tasks: [{ value: 2 }] })
        .run();
      await eventually(async () => ((await backend.getSteps(mixed.id))[0]?.status === 'succeeded' ? true : undefined), 60_000);
      // A has not worked through the backlog yet: B did not wait behind it.
      const open = await Promise.all(backlog.map((id) => backend.getWorkflow(id)));
      expect(open.filter((workflow) => workflow?.status === 'running').length).toBeGreaterThan(0);

      const result = await mixed.done();
      expect(echoResults(result, 0).map((r) => r.pid)).toEqual([billingNode.pid]);
      expect(echoResults(result, 1).map((r) => r.pid)).toEqual([defaultNode.pid]);
      for (const id of [backlog[0], backlog[BACKLOG_WORKFLOWS - 1]]) {
        const done = await (await WorkFlow.getById(id ?? ''))?.done();
        expect(new Set(echoResults(done ?? { steps: [] } as never).map((r) => r.pid))).toEqual(new Set([defaultNode.pid]));
      }
    }, 300_000);
  });
}
