/**
 * Node loss with the default taskMaxFailCount (1): a node's death is not its tasks' fault, so
 * every task it held (started or only claimed) gets one more attempt instead of failing the
 * workflow. Three real node processes, one killed with SIGKILL mid-run. This process recovers
 * the victim's jobs itself (the nodes never do: checkProcessQueueInterval 0) so that it can
 * read the recovered tasks while they wait out their retry delay.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import type { TaskRecord } from '../../src/backends/backend.js';
import echo from '../fixtures/steps/echo.js';
import type { EchoResult } from '../fixtures/steps/echo.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import { REDIS_URL, deletePrefix, randomPrefix } from '../helpers/redis.js';

const prefix = randomPrefix('nodeloss');
const LEASE_MS = 1_000;
/** Long enough to read the recovered tasks before a survivor retries them. */
const RETRY_DELAY_MS = 3_000;
const TASKS = 300;

afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
  await deletePrefix(prefix);
});

describe('Redis: a node lost with taskMaxFailCount 1', () => {
  it('retries what the dead node held (once, ERR_NODE_LOST) and the workflow succeeds', async () => {
    const options = { backend: REDIS_URL, prefix, leaseMs: LEASE_MS, checkProcessQueueInterval: 0 };
    // Registered first: recovery waits until this process was connected for a node's lease.
    await DeFlow.register({ ...options, worker: false }).ready();
    const [victim, ...survivors] = await Promise.all([startNode(options), startNode(options), startNode(options)]);
    if (victim === undefined) throw new Error('no victim');
    const tasks = Array.from({ length: TASKS }, (_, i) => ({ value: i, ms: 20 }));
    // taskMaxFailCount stays at its default, 1.
    const workflow = WorkFlow.create('node-loss')
      .addStep({ step: echo, tasks, options: { taskConcurrency: 4, taskFailRetryDelay: RETRY_DELAY_MS } })
      .run();
    const done = workflow.done();
    done.catch(() => undefined);

    await victim.waitFor(() => victim.messages.filter((m) => m.type === 'start').length >= 20);
    await victim.kill('SIGKILL');

    // Take its jobs back once its lease ran out (bounded wait, not a timing assertion).
    const { backend } = await DeFlow.getInstance().services();
    let recovered = 0;
    for (let round = 0; recovered === 0; round++) {
      if (round > 300) throw new Error('the dead node was not recovered within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
      recovered += (await backend.recoverExpired(10_000)).recovered;
    }

    // Right after recovery: each lost job counts one failed attempt and waits for its retry.
    const lost: TaskRecord[] = [];
    for (let afterSeq = 0; ; ) {
      const page = await backend.getTasks(workflow.id, '1', { afterSeq, limit: 1_000 });
      if (page.length === 0) break;
      lost.push(...page.filter((task) => task.failedCount > 0));
      afterSeq = page[page.length - 1]?.seq ?? afterSeq;
    }
    expect(lost).toHaveLength(recovered);
    for (const task of lost) {
      expect(task).toMatchObject({ status: 'ready', failedCount: 1, error: { code: 'ERR_NODE_LOST' } });
    }
    expect((await backend.getWorkflow(workflow.id))?.status).toBe('running');

    const result = await done;
    const results = result.steps[0]?.tasks ?? [];
    // One final result per task, all succeeded; the lost ones on a survivor, as a second attempt.
    expect(results.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
    expect(results.every((task) => task.status === 'succeeded')).toBe(true);
    const retried = results.filter((task) => task.failedCount > 0);
    expect(retried.map((task) => task.id).sort()).toEqual(lost.map((task) => task.id).sort());
    expect(retried.every((task) => task.failedCount === 1)).toBe(true);
    const survivorPids = new Set(survivors.map((node) => node.pid));
    expect(retried.every((task) => survivorPids.has((task.result as EchoResult).pid))).toBe(true);
  });
});
