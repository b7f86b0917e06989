/**
 * Results of big steps: a summary always, tasks only up to `resultTasks`, the rest read back
 * page by page in task order (docs/api.md#results-of-big-steps).
 */
import { describe, expect, it } from 'vitest';
import { StepHandler, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { WorkflowResult } from '../../src/index.js';
import type { Conformance } from './context.js';

const TASKS = 3_000;
const BATCH = 500;

/** Tasks added from beforeAll in batches; every task whose data ends in 7 out of 1000 fails. */
const fanOut = new StepHandler<unknown, number, number>({
  name: 'results-fan-out',
  options: { taskConcurrency: 50 },
  async beforeAll(step) {
    for (let from = 0; from < TASKS; from += BATCH) await step.addTasks(Array.from({ length: BATCH }, (_, i) => from + i));
  },
  handler(task) {
    if (task.data % 1000 === 7) throw new Error(`task ${task.data} refuses`);
    return task.data * 2;
  },
});

const manyFailures = new StepHandler<unknown, number, number>({
  name: 'results-many-failures',
  handler(task) {
    throw new Error(`no ${task.data}`);
  },
});

async function failedResult(done: Promise<WorkflowResult>): Promise<WorkflowResult> {
  const error = await done.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  return (error as WorkflowFailedError).result;
}

export function results(t: Conformance): void {
  describe('results of big steps', () => {
    it('a step above resultTasks carries its summary only; iterateResults pages through every task in order', async () => {
      await t.register({ resultTasks: 100 });
      const workflow = WorkFlow.create('big-results').addStep({ step: fanOut, name: 'fan-out' });
      let heard: WorkflowResult | null = null;
      workflow.on('done', (result) => {
        heard = result;
      });
      workflow.on('error', () => undefined);
      const result = await failedResult(workflow.run().done());
      const [step] = result.steps;
      expect(step?.tasksLoaded).toBe(false);
      expect(step?.tasks).toEqual([]);
      expect(step?.summary).toMatchObject({ total: TASKS, succeeded: TASKS - 3, failed: 3, unfinished: 0, errorsTruncated: false });
      expect(step?.summary.errors.map((e) => [e.seq, e.error.message])).toEqual([
        [8, 'task 7 refuses'],
        [1008, 'task 1007 refuses'],
        [2008, 'task 2007 refuses'],
      ]);
      expect((heard as WorkflowResult | null)?.steps[0]?.summary).toEqual(step?.summary);
      expect((await workflow.results()).steps[0]?.tasksLoaded).toBe(false);

      let expected = 1;
      let failed = 0;
      for await (const task of workflow.iterateResults('fan-out', 250)) {
        expect(task.seq).toBe(expected++);
        if (task.status === 'failed') failed++;
        else expect(task.result).toBe(task.data as number * 2);
      }
      expect(expected - 1).toBe(TASKS);
      expect(failed).toBe(3);
      // By the step of a result too, and a page after a given seq.
      let count = 0;
      for await (const task of workflow.iterateResults(step ?? { id: '' })) count += task.seq > 0 ? 1 : 0;
      expect(count).toBe(TASKS);
      const page = await (await workflow.getStep('fan-out'))?.getResultsPage({ afterSeq: TASKS - 10, limit: 100 });
      expect(page?.map((task) => task.seq)).toEqual(Array.from({ length: 10 }, (_, i) => TASKS - 9 + i));
      await expect(workflow.iterateResults('no-such-step').next()).rejects.toThrow(/has no step no-such-step/);
    });

    it('a small step keeps its tasks; the summary lists the first 20 errors', async () => {
      await t.register();
      const data = Array.from({ length: 25 }, (_, i) => i);
      const result = await failedResult(WorkFlow.create('small-results').addStep({ step: manyFailures, tasks: data }).run().done());
      const [step] = result.steps;
      expect(step?.tasksLoaded).toBe(true);
      expect(step?.tasks.map((task) => task.seq)).toEqual(data.map((i) => i + 1));
      expect(step?.summary).toMatchObject({ total: 25, succeeded: 0, failed: 25, unfinished: 0, errorsTruncated: true });
      expect(step?.summary.errors.map((e) => e.seq)).toEqual(data.slice(0, 20).map((i) => i + 1));
    });
  });
}
