/** Branches, joins, failure branches and graph validation. */
import { describe, expect, it } from 'vitest';
import { StepHandler, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { Conformance } from './context.js';
import { sleep } from './context.js';

const windows = new Map<string, { start: number; end: number }>();
const timed = new StepHandler<unknown, { label: string; ms: number }, string>({
  name: 'dag-timed',
  async handler(task) {
    const start = Date.now();
    await sleep(task.data.ms);
    windows.set(task.data.label, { start, end: Date.now() });
    return task.data.label;
  },
});
const boom = new StepHandler<unknown, string, string>({
  name: 'dag-boom',
  handler(task) {
    throw new Error(`boom: ${task.data}`);
  },
});
const label = new StepHandler<unknown, string, string>({ name: 'dag-label', handler: (task) => task.data });

export function dag(t: Conformance): void {
  describe('DAG', () => {
    it('runs independent branches in parallel and joins them', async () => {
      await t.register();
      windows.clear();
      const workflow = WorkFlow.create('diamond')
        .addStep({ name: 'source', step: timed, tasks: [{ label: 'source', ms: 10 }] })
        .addStep({ name: 'left', step: timed, tasks: [{ label: 'left', ms: 400 }], dependsOn: ['source'] })
        .addStep({ name: 'right', step: timed, tasks: [{ label: 'right', ms: 400 }], dependsOn: ['source'] })
        .addStep({ name: 'join', step: timed, tasks: [{ label: 'join', ms: 10 }], dependsOn: ['left', 'right'] })
        .run();
      const result = await workflow.done();
      expect(result.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
      const left = windows.get('left');
      const right = windows.get('right');
      const join = windows.get('join');
      const source = windows.get('source');
      if (!left || !right || !join || !source) throw new Error('a step did not run');
      // Both branches started after the source and overlapped in time; the join waited for both.
      expect(left.start).toBeGreaterThanOrEqual(source.end);
      expect(Math.max(left.start, right.start)).toBeLessThan(Math.min(left.end, right.end));
      expect(join.start).toBeGreaterThanOrEqual(Math.max(left.end, right.end));
      expect(result.steps.at(-1)?.name).toBe('join');
    });

    it('runs a failure branch only when its parent failed, and skips the success path', async () => {
      await t.register();
      const workflow = WorkFlow.create('failure-branch')
        .addStep({ name: 'risky', step: boom, tasks: ['x'] })
        .addStep({ name: 'happy', step: label, tasks: ['happy'], dependsOn: ['risky'] })
        .addStep({ name: 'rescue', step: label, tasks: ['rescue'], dependsOn: ['risky'], when: 'failure' })
        .addStep({ name: 'cleanup', step: label, tasks: ['cleanup'], dependsOn: ['happy'], when: 'always' })
        .run();
      const result = await workflow.done(); // the failure was handled, so the workflow succeeds
      const status = Object.fromEntries(result.steps.map((s) => [s.name, s.status]));
      expect(status).toEqual({ risky: 'failed', happy: 'skipped', rescue: 'succeeded', cleanup: 'succeeded' });
      expect(result.status).toBe('succeeded');
    });

    it('does not run a failure branch when its parent succeeded', async () => {
      await t.register();
      const result = await WorkFlow.create('no-failure')
        .addStep({ name: 'fine', step: label, tasks: ['fine'] })
        .addStep({ name: 'rescue', step: label, tasks: ['rescue'], when: 'failure' })
        .run()
        .done();
      expect(result.steps.map((s) => [s.name, s.status])).toEqual([
        ['fine', 'succeeded'],
        ['rescue', 'skipped'],
      ]);
    });

    it('fails the workflow with the reason when a failure is not handled, skipping what followed', async () => {
      await t.register();
      const workflow = WorkFlow.create('unhandled')
        .addStep({ name: 'first', step: label, tasks: ['a'] })
        .addStep({ name: 'breaks', step: boom, tasks: ['b'] })
        .addStep({ name: 'never', step: label, tasks: ['c'] })
        .run();
      const error = (await workflow.done().catch((e: unknown) => e)) as WorkflowFailedError;
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect(error.code).toBe('ERR_WORKFLOW_FAILED');
      expect(error.message).toContain('step "breaks" failed');
      expect(error.message).toContain('boom: b');
      expect(error.result.steps.map((s) => [s.name, s.status])).toEqual([
        ['first', 'succeeded'],
        ['breaks', 'failed'],
        ['never', 'skipped'],
      ]);
      expect((await workflow.refresh()).status).toBe('failed');
    });

    it('starts steps with dependsOn: [] at once, next to the first step', async () => {
      await t.register();
      windows.clear();
      await WorkFlow.create('two-roots')
        .addStep({ name: 'a', step: timed, tasks: [{ label: 'a', ms: 300 }] })
        .addStep({ name: 'b', step: timed, tasks: [{ label: 'b', ms: 300 }], dependsOn: [] })
        .run()
        .done();
      const a = windows.get('a');
      const b = windows.get('b');
      expect(a && b && Math.max(a.start, b.start) < Math.min(a.end, b.end)).toBe(true);
    });
  });
}
