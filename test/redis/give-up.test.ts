/**
 * connection.maxAttempts: Redis goes away for good (a test-owned server, killed). Once the
 * reconnect attempts are spent the backend says so once, clearly, stops claiming to
 * reconnect, rejects every later call with that error at once, and done() rejects with it.
 * A refused database on a reconnect ends the backend the same way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { randomPrefix } from '../helpers/redis.js';
import { OwnedRedis } from './server.js';

let server: OwnedRedis | null = null;

afterEach(async () => {
  await DeFlow.unregister();
  await server?.destroy();
  server = null;
});

let firstStart: () => void = () => undefined;
const slow = new StepHandler<unknown, number, number>({
  name: 'give-up-slow',
  async handler(task) {
    firstStart();
    await new Promise((resolve) => setTimeout(resolve, 50));
    return task.data;
  },
});

/** The promise's rejection, or a test failure after a generous bound instead of a hang. */
async function rejectionOf(promise: Promise<unknown>, boundMs = 30_000): Promise<Error> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${boundMs} ms`)), boundMs);
  });
  try {
    await Promise.race([promise, bound]);
  } catch (error) {
    return error as Error;
  } finally {
    clearTimeout(timer);
  }
  throw new Error('expected a rejection, got a result');
}

/** Resolves once `predicate` holds; fails the test after a generous bound. */
async function until(predicate: () => boolean, boundMs = 30_000): Promise<void> {
  for (const start = Date.now(); !predicate(); ) {
    if (Date.now() - start > boundMs) throw new Error(`condition still false after ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** done(), once the handle's first read is answered (that read failing would reject done() too). */
async function followed(workflow: WorkFlow): Promise<{ done: Promise<unknown> }> {
  const done = workflow.done();
  done.catch(() => undefined);
  await workflow.refresh(); // answered after the handle's own read, on the same connection
  return { done };
}

/** Registers a worker on `port`, starts a workflow and resolves once its first task runs. */
async function runningWorkflow(connection: Record<string, unknown>): Promise<{ deflow: DeFlow; workflow: WorkFlow; errors: Error[]; backend: RedisBackend }> {
  const deflow = DeFlow.register({ connection, prefix: randomPrefix('giveup'), leaseMs: 1_500, checkProcessQueueInterval: 250 });
  const errors: Error[] = [];
  deflow.on('error', (error) => errors.push(error));
  await deflow.ready();
  const { backend } = await deflow.services();
  if (!(backend instanceof RedisBackend)) throw new Error('not the Redis backend');
  const started = new Promise<void>((resolve) => (firstStart = resolve));
  const workflow = WorkFlow.create('give-up')
    .addStep({ step: slow, tasks: Array.from({ length: 200 }, (_, i) => i), options: { taskConcurrency: 2 } })
    .run();
  await started;
  return { deflow, workflow, errors, backend };
}

describe('Redis: giving up reconnecting (connection.maxAttempts)', () => {
  it('reports one final error, rejects done() and every later call with it', async () => {
    server = await OwnedRedis.start();
    const { deflow, workflow, errors, backend } = await runningWorkflow({ host: '127.0.0.1', port: server.port, maxAttempts: 3, retryMaxDelay: 100 });
    const fatal: Error[] = [];
    backend.onFatal((error) => fatal.push(error));
    const { done } = await followed(workflow);
    await server.kill();

    const error = await rejectionOf(done);
    const gaveUp = new RegExp(`^gave up reconnecting to redis://127\\.0\\.0\\.1:${server.port}/0 after 3 attempts \\(connection\\.maxAttempts\\); last error: .*ECONNREFUSED`);
    expect(error).toMatchObject({ name: 'BackendError', code: 'ERR_BACKEND' });
    expect(error.message).toMatch(gaveUp);
    expect(error.message).toMatch(/register DeFlow again once Redis is back/);
    expect(fatal).toEqual([error]);

    // The registration fails with it, reported once: the node stopped its background rounds.
    expect(deflow.state).toBe('failed');
    await expect(WorkFlow.getById(workflow.id)).rejects.toBe(error);
    await expect(backend.now()).rejects.toBe(error);
    await until(() => errors.includes(error));
    const reportsBefore = errors.length;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(errors.length).toBe(reportsBefore);
    expect(errors.filter((reported) => reported === error)).toHaveLength(1);

    // Redis coming back does not revive it; unregistering still works, and a new registration does.
    await server.start();
    await DeFlow.unregister();
    await DeFlow.register({ connection: { host: '127.0.0.1', port: server.port }, prefix: randomPrefix('giveup'), worker: false }).ready();
  });

  it('ends the backend when the server refuses the database on a reconnect', async () => {
    server = await OwnedRedis.start();
    const { workflow, backend } = await runningWorkflow({ host: '127.0.0.1', port: server.port, db: 9, retryMaxDelay: 100 });
    const { done } = await followed(workflow);
    await server.kill();
    await server.start(['--databases', '4']);

    const error = await rejectionOf(done);
    expect(error).toMatchObject({ name: 'BackendError', code: 'ERR_BACKEND' });
    expect(error.message).toMatch(/the db index 9 is out of range .*Redis answered "ERR DB index is out of range"/);
    await expect(backend.now()).rejects.toBe(error);
  });
});
