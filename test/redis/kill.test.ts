/**
 * kill -9 mid-run: three nodes share a 2,000-task step; one is killed with SIGKILL. The run
 * completes, every task has exactly one final result, and the killed node's tasks are
 * retried within lease + check interval.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';
import type { EchoResult } from '../fixtures/steps/echo.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import { REDIS_URL, deletePrefix, randomPrefix } from '../helpers/redis.js';

const prefix = randomPrefix('kill');
const LEASE_MS = 1_500;
const INTERVAL_MS = 250;

afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
  await deletePrefix(prefix);
});

describe('Redis: a node killed mid-run', () => {
  it('finishes a 2,000-task step after SIGKILL of one of three nodes, one final result per task', async () => {
    const options = { backend: REDIS_URL, prefix, leaseMs: LEASE_MS, checkProcessQueueInterval: INTERVAL_MS };
    const [victim, ...survivors] = await Promise.all([startNode(options), startNode(options), startNode(options)]);
    if (victim === undefined) throw new Error('no victim');
    await DeFlow.register({ ...options, worker: false }).ready();
    const tasks = Array.from({ length: 2_000 }, (_, i) => ({ value: i, ms: 3 }));
    const workflow = WorkFlow.create('kill-9').addStep({ step: echo, tasks, options: { taskConcurrency: 4, taskMaxFailCount: 3 } }).run();
    let firstRetryAt: number | null = null;
    for (const node of survivors) {
      node.child.on('message', (m: { type: string; attempt?: number }) => {
        if (m.type === 'start' && m.attempt === 2) firstRetryAt ??= Date.now();
      });
    }
    // Kill it once it is well into its share.
    await victim.waitFor((m) => m.type === 'start' && victim.messages.filter((x) => x.type === 'start').length >= 50);
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    const result = await workflow.done();
    const results = result.steps[0]?.tasks ?? [];

    // Every task ended once, succeeded, with its own value.
    expect(results).toHaveLength(2_000);
    expect(results.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
    expect(results.every((task) => task.status === 'succeeded')).toBe(true);

    // What the victim held was retried on a survivor, as a second attempt.
    const retried = results.filter((task) => task.failedCount > 0);
    expect(retried.length).toBeGreaterThan(0);
    expect(retried.every((task) => task.failedCount === 1)).toBe(true);
    const survivorPids = new Set(survivors.map((node) => node.pid));
    expect(retried.every((task) => survivorPids.has((task.result as EchoResult).pid))).toBe(true);

    // Recovery came within lease + check interval of the kill (its last heartbeat was even
    // earlier); the extra second is scheduling slack on a loaded two-core machine.
    const retryStarts = survivors.flatMap((node) => node.messages.filter((m) => m.type === 'start' && m.attempt === 2));
    expect(retryStarts.length).toBe(retried.length);
    expect(firstRetryAt).not.toBeNull();
    const recoveryMs = (firstRetryAt ?? Infinity) - killedAt;
    console.log(`kill -9: first retried task started ${recoveryMs} ms after the kill (lease ${LEASE_MS} + interval ${INTERVAL_MS})`);
    expect(recoveryMs).toBeLessThan(LEASE_MS + INTERVAL_MS + 1_000);
  });
});
