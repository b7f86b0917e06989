/**
 * A workflow handle misses no 'step' or 'done' event across a Redis restart: the server (its
 * own, AOF) is killed while the workflow runs on another process and started again; the
 * handle's process reconnects late (frozen before it subscribes again), so the steps that finish
 * meanwhile publish events it never receives. It re-reads the stored steps and reports each
 * step once, and 'done' once, last.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow from '../../src/index.js';
import { disarmAllFaults } from '../../src/fault-points.js';
import { eventually, sleep } from '../conformance/context.js';
import { freezeOnEventsReconnect, runCountedChain, within } from '../helpers/handle-events.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import { randomPrefix } from '../helpers/redis.js';
import { OwnedRedis } from './server.js';

let server: OwnedRedis | null = null;

afterEach(async () => {
  disarmAllFaults();
  await DeFlow.unregister();
  await stopAllNodes();
  await server?.destroy();
  server = null;
});

describe('workflow handle across a Redis restart', () => {
  it("reports each step once and 'done' once, though the events of steps that finished meanwhile were lost", async () => {
    server = await OwnedRedis.start();
    const options = { backend: server.url, prefix: randomPrefix('handle'), leaseMs: 10_000, checkProcessQueueInterval: 250 };
    await startNode(options);
    await DeFlow.register({ ...options, worker: false }).ready();
    const frozen = freezeOnEventsReconnect(4_000);
    const run = runCountedChain('across-restart', 8, 250);
    await eventually(() => (run.steps.size >= 1 ? true : undefined), 30_000);
    await server.kill();
    await sleep(1_000); // the running task finishes while the server is down
    await server.start();
    const result = await within(run.workflow.done(), 45_000, 'done()');
    expect(result.status).toBe('succeeded');
    expect(frozen()).toBe(1);
    await sleep(500); // nothing more may come
    expect(Object.fromEntries(run.steps)).toEqual(Object.fromEntries(result.steps.map((step) => [step.id, 1])));
    expect(run.steps.size).toBe(8);
    expect(run.done()).toBe(1);
  }, 90_000);
});
