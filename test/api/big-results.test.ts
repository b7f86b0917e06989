/**
 * The defaults around big steps, an api rule the same on every backend (so on SQLite): a step
 * above 10,000 tasks leaves its tasks out of done(), and getResults() on it warns once.
 */
import { describe, expect, it } from 'vitest';
import { StepHandler, WorkFlow } from '../../src/index.js';
import { useConformance } from '../conformance/context.js';
import { sqliteUnderTest } from '../helpers/backends.js';

const echo = new StepHandler<unknown, number, number>({ name: 'big-results-echo', handler: (task) => task.data });

describe('big results', () => {
  const t = useConformance(sqliteUnderTest());

  it('leaves the tasks of a step above 10,000 out of done(); getResults() on it warns once and still loads them', async () => {
    await t.register();
    const result = await WorkFlow.create('big').addStep({ step: echo, tasks: Array.from({ length: 10_001 }, (_, i) => i) }).run().done();
    const step = result.steps[0];
    expect(step?.tasksLoaded).toBe(false);
    expect(step?.summary).toMatchObject({ total: 10_001, succeeded: 10_001, errors: [], errorsTruncated: false });

    const warnings: Error[] = [];
    const listen = (warning: Error): void => {
      if ((warning as Error & { code?: string }).code === 'DEFLOW_LARGE_RESULTS') warnings.push(warning);
    };
    process.on('warning', listen);
    try {
      const workflow = await WorkFlow.getById(result.id);
      const handle = await workflow?.getStep(step?.id ?? '');
      expect((await handle?.getResults())?.length).toBe(10_001);
      expect((await handle?.getResults())?.length).toBe(10_001);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(/getResults\(\) loads all 10001 tasks of step .*step\.iterateResults\(\)/)]);
    } finally {
      process.off('warning', listen);
    }
  });
});
