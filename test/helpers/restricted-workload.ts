/**
 * A workflow that uses what a node does in normal work (hooks adding tasks and a step, a retry
 * after a failure, a rate limit, events, results, listing by name, the watchdog and retention sweeps), for
 * tests that run it as a user with only the documented rights.
 */
import { expect } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';

const attempts = new Map<string, number>();

const tail = new StepHandler<unknown, string, string>({ name: 'restricted-tail', handler: (task) => `tail ${task.data}` });

const main = new StepHandler<unknown, number, number>({
  name: 'restricted-main',
  options: { taskMaxFailCount: 2, taskConcurrency: 2 },
  async beforeAll(step) {
    await step.addTasks([3, 4]);
  },
  handler(task) {
    const key = `${task.id}`;
    const seen = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, seen);
    if (task.data === 2 && seen === 1) throw new Error('fails once');
    return task.data * 10;
  },
  async afterAll(step) {
    await step.addAfter({ step: tail, tasks: ['x'] });
  },
});

/** A step with a keyed rate limit: its claims touch each key's bucket of starts. */
const perKey = new StepHandler<unknown, { account: string }, string>({
  name: 'restricted-per-key',
  handler: (task) => task.data.account,
});

/** Registers with `options`, runs the workflow to the end and checks what a user reads back. */
export async function runRestrictedWorkload(options: Record<string, unknown>): Promise<void> {
  attempts.clear();
  const problems: string[] = [];
  const deflow = DeFlow.register({ checkProcessQueueInterval: 100, ...options });
  deflow.on('error', (error, during) => problems.push(`${during}: ${error.message}`)); // nothing may fail in the background
  await deflow.ready();
  const name = `restricted-${Date.now()}`;
  await DeFlow.setRateLimit('restricted-api', { max: 100, per: 1_000 });
  const workflow = WorkFlow.create(name).addStep({ step: main, tasks: [1, 2], options: { rateLimit: 'restricted-api' } }).run();
  const result = await workflow.done();
  expect(result.steps.map((s) => [s.name, s.status])).toEqual([
    ['restricted-main', 'succeeded'],
    ['restricted-tail', 'succeeded'],
  ]);
  expect(result.steps[0]?.tasks.map((t) => t.result)).toEqual([10, 20, 30, 40]);
  expect(result.steps[0]?.tasks[1]?.failedCount).toBe(1);
  expect((await WorkFlow.getByName(name)).map((w) => w.id)).toEqual([workflow.id]);
  const step = await workflow.getStep('restricted-tail');
  expect((await step?.getResults())?.map((t) => t.result)).toEqual(['tail x']);
  const keyed = await WorkFlow.create(`${name}-keyed`)
    .addStep({ step: perKey, tasks: [{ account: 'a' }, { account: 'b' }, { account: 'a' }], options: { rateLimit: { name: 'restricted-api', key: 'account' } } })
    .run()
    .done();
  expect(keyed.steps[0]?.tasks.map((t) => t.result)).toEqual(['a', 'b', 'a']);
  expect(await DeFlow.rateLimits()).toEqual([{ name: 'restricted-api', max: 100, per: 1_000 }]);
  expect(await DeFlow.removeRateLimit('restricted-api')).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 300)); // a few watchdog rounds
  await DeFlow.unregister();
  expect(problems).toEqual([]);
  // A second node on the now migrated store starts and stops as well.
  await DeFlow.register({ checkProcessQueueInterval: 100, ...options }).ready();
  const again = await WorkFlow.getById(workflow.id);
  expect(again?.name).toBe(name);
  await again?.clean();
  expect(await WorkFlow.getById(workflow.id)).toBeNull();
  await DeFlow.unregister();
}
