/**
 * Redis itself goes away mid-run (a test-owned server, killed with SIGKILL, AOF with
 * appendfsync always), then comes back: the run resumes, no task is lost or counted as
 * failed (taskMaxFailCount 1), and the nodes said clearly what happened.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';
import type { EchoResult } from '../fixtures/steps/echo.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import { randomPrefix } from '../helpers/redis.js';
import { OwnedRedis } from './server.js';

let server: OwnedRedis | null = null;

afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
  await server?.destroy();
  server = null;
});

async function outage(leaseMs: number, downMs: number): Promise<void> {
  server = await OwnedRedis.start();
  const options = { backend: server.url, prefix: randomPrefix('restart'), leaseMs, checkProcessQueueInterval: 250 };
  const nodes = await Promise.all([startNode(options), startNode(options)]);
  await DeFlow.register({ ...options, worker: false }).ready();
  const tasks = Array.from({ length: 200 }, (_, i) => ({ value: i, ms: 20 }));
  const workflow = WorkFlow.create('outage').addStep({ step: echo, tasks, options: { taskConcurrency: 2, taskMaxFailCount: 1 } }).run();
  const done = workflow.done();
  done.catch(() => undefined);

  const started = (): number => nodes.reduce((sum, node) => sum + node.messages.filter((m) => m.type === 'start').length, 0);
  await nodes[0]?.waitFor(() => started() >= 40);
  await server.kill();
  // Both nodes notice and say so; the server stays down a while.
  await Promise.all(nodes.map((node) => node.waitFor((m) => m.type === 'problem')));
  await new Promise((resolve) => setTimeout(resolve, downMs));
  await server.start();

  const result = await done;
  const results = result.steps[0]?.tasks ?? [];
  expect(results.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
  expect(results.every((task) => task.status === 'succeeded' && task.failedCount === 0)).toBe(true);
  const problems = nodes.flatMap((node) => node.messages.filter((m) => m.type === 'problem').map((m) => String(m.message)));
  expect(problems.some((message) => /lost the connection to Redis at redis:\/\/127\.0\.0\.1:\d+\/0/.test(message))).toBe(true);
}

describe('Redis restarting under a running workflow', () => {
  it('resumes after the server is back, nothing lost or failed', async () => {
    await outage(10_000, 1_500);
  });

  // Down for longer than the nodes' lease: the backend keeps live nodes alive (outage grace),
  // the engine holds back jobs it queued while its lease was stale, and starts them once a
  // heartbeat goes through again.
  it('resumes after an outage longer than the lease, nothing lost or failed', async () => {
    await outage(1_500, 2_000);
  });
});
