/**
 * Redis loses its data under a running workflow (a test-owned server without persistence,
 * killed with SIGKILL and started again empty): handles waiting for the workflow learn that
 * it is gone and done() rejects with a NotFoundError instead of hanging.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';
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

/** The promise's rejection, or a test failure after a generous bound instead of a hang. */
async function rejectionOf(promise: Promise<unknown>, boundMs: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${boundMs} ms`)), boundMs);
  });
  try {
    await Promise.race([promise, bound]);
  } catch (error) {
    return error;
  } finally {
    clearTimeout(timer);
  }
  throw new Error('expected a rejection, got a result');
}

describe('Redis restarting without its data', () => {
  it('rejects done() with a NotFoundError for a workflow that no longer exists', async () => {
    server = await OwnedRedis.start({ persistence: false });
    const options = { backend: server.url, prefix: randomPrefix('dataloss'), leaseMs: 2_000, checkProcessQueueInterval: 250 };
    const node = await startNode(options);
    await DeFlow.register({ ...options, worker: false }).ready();
    const tasks = Array.from({ length: 200 }, (_, i) => ({ value: i, ms: 50 }));
    const workflow = WorkFlow.create('data-loss').addStep({ step: echo, tasks }).run();
    const done = workflow.done();
    done.catch(() => undefined);
    // A second handle, found by id, follows it too.
    await workflow.started();
    const other = await WorkFlow.getById(workflow.id);
    if (other === null) throw new Error('the workflow was not found by id');
    const otherDone = other.done();
    otherDone.catch(() => undefined);

    await node.waitFor((m) => m.type === 'start');
    await server.kill();
    await server.start();

    for (const error of await Promise.all([rejectionOf(done, 30_000), rejectionOf(otherDone, 30_000)])) {
      expect(error).toMatchObject({ name: 'NotFoundError', code: 'ERR_NOT_FOUND' });
      expect((error as Error).message).toContain(workflow.id);
    }
  });
});
