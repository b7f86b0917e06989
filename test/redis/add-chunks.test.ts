/**
 * Redis adds many tasks in chunks (one script each, so Redis is never blocked for long): the
 * tasks land whole and in order, and a repeated call with the same batch key adds nothing twice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { eventually } from '../conformance/context.js';
import { REDIS_URL, deletePrefix, randomPrefix } from '../helpers/redis.js';

const TASKS = 2_500; // three chunks
const prefix = randomPrefix('chunks');
let release: () => void = () => undefined;
let hookStarted = false;

const held = new StepHandler<unknown, number, number>({
  name: 'redis-chunks-held',
  async beforeAll(step) {
    await step.addTasks(Array.from({ length: TASKS }, (_, i) => i));
    hookStarted = true;
    await new Promise<void>((resolve) => {
      release = resolve;
    });
  },
  handler: (task) => task.data,
});

afterEach(async () => {
  await DeFlow.unregister();
  await deletePrefix(prefix);
});

describe('Redis addTasks in chunks', () => {
  it('adds a big batch whole and in order, and a repeated batch key adds nothing', async () => {
    await DeFlow.register({ backend: REDIS_URL, prefix, resultTasks: 10 }).ready();
    const workflow = WorkFlow.create('chunks').addStep({ step: held, name: 'held' }).run();
    await eventually(() => (hookStarted ? true : undefined));
    const stepId = (await workflow.getStep('held'))?.id ?? '';

    const backend = new RedisBackend({ url: REDIS_URL, prefix });
    await backend.open();
    try {
      const more = { workflowId: workflow.id, stepId, tasksJson: Array.from({ length: TASKS }, (_, i) => String(TASKS + i)), batchKey: 'again' };
      expect(await backend.addTasks(more)).toEqual({ added: TASKS, total: 2 * TASKS });
      expect(await backend.addTasks(more)).toEqual({ added: 0, total: 2 * TASKS });
    } finally {
      await backend.close();
    }
    release();

    const result = await workflow.done();
    expect(result.steps[0]?.summary).toMatchObject({ total: 2 * TASKS, succeeded: 2 * TASKS, failed: 0 });
    let seq = 0;
    for await (const task of workflow.iterateResults('held', 700)) {
      expect(task.seq).toBe(++seq);
      expect(task.result).toBe(seq - 1);
    }
    expect(seq).toBe(2 * TASKS);
  });
});
