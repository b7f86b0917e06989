/**
 * countWorkflows: exact counts by status, of all workflows or of one name and/or business key,
 * the same on every backend (the server's counts and the deflow_workflows gauge read it).
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import type { Conformance } from './context.js';

const outcome = new StepHandler<unknown, boolean, boolean>({
  name: 'counts-outcome',
  handler(task) {
    if (!task.data) throw new Error('fails on purpose');
    return true;
  },
});

export function counts(t: Conformance): void {
  describe('counting workflows', () => {
    it('counts exactly by status, by name, by key and by both', async () => {
      await t.register();
      const { backend } = await DeFlow.getInstance().services();
      expect(await backend.countWorkflows({})).toEqual({});
      const runs: [string, string | undefined, boolean][] = [
        ['counts-a', 'k1', true],
        ['counts-a', 'k1', false],
        ['counts-a', 'k2', true],
        ['counts-b', 'k1', true],
        ['counts-b', undefined, false],
      ];
      for (const [name, key, ok] of runs) {
        const workflow = WorkFlow.create(name, key === undefined ? {} : { key }).addStep({ step: outcome, tasks: [ok], options: { taskMaxFailCount: 1 } });
        await workflow.run().done().catch(() => undefined);
      }
      // Its step waits a minute: it is cancelled while it waits.
      const cancelled = await WorkFlow.create('counts-b', { key: 'k2' }).addStep({ step: outcome, tasks: [true], delay: 60_000 }).run().started();
      expect(await cancelled.cancel()).toBe(true);
      const clean = (counts: Record<string, number | undefined>) => Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0));
      expect(clean(await backend.countWorkflows({}))).toEqual({ succeeded: 3, failed: 2, cancelled: 1 });
      expect(clean(await backend.countWorkflows({ name: 'counts-a' }))).toEqual({ succeeded: 2, failed: 1 });
      expect(clean(await backend.countWorkflows({ key: 'k1' }))).toEqual({ succeeded: 2, failed: 1 });
      expect(clean(await backend.countWorkflows({ name: 'counts-b', key: 'k1' }))).toEqual({ succeeded: 1 });
      expect(clean(await backend.countWorkflows({ name: 'counts-b', key: 'k2' }))).toEqual({ cancelled: 1 });
      expect(clean(await backend.countWorkflows({ name: 'nope' }))).toEqual({});
      expect(clean(await backend.countWorkflows({ key: 'k' }))).toEqual({}); // exact, not a prefix
    });
  });
}
