// Every event Workestrator documents, with its arguments, on the farm and on the worker it is about.
import os from 'node:os';
import { expect, test } from 'vitest';
import { ModuleLoadError, WorkestratorWorker, type WorkestratorMessage } from '../../src/workestrator/index.js';
import { checkLeaksAfterEach, fixture, makeFarm, nextEvent, recordEvents, tempFile, waitFor } from './helpers.js';

checkLeaksAfterEach();

test('farm.workers lists the workers as soon as create() returns; fork reaches listeners attached then', async () => {
  const farm = makeFarm({ numberOfWorkers: 2 });
  const workers = farm.workers;
  expect(workers).toHaveLength(2);
  expect(workers.map((worker) => worker.id)).toEqual([1, 2]);
  for (const worker of workers) {
    expect(worker).toBeInstanceOf(WorkestratorWorker);
    expect(worker.pid).toBeGreaterThan(0);
    expect(worker.state).toBe('starting');
  }
  const forks = recordEvents(farm, ['fork']);
  const onWorker = recordEvents(workers[0] as WorkestratorWorker, ['fork']);
  await waitFor(() => forks.length === 2);
  expect(forks.map(({ args }) => args)).toEqual([[workers[0]], [workers[1]]]);
  expect(onWorker).toEqual([{ event: 'fork', args: [] }]);
  await farm.kill();
});

test('online(worker), and online() on the worker', async () => {
  const farm = makeFarm();
  const [worker] = farm.workers as [WorkestratorWorker];
  const onWorker = nextEvent(worker, 'online');
  const [online] = await nextEvent(farm, 'online');
  expect(online).toBe(worker);
  expect(await onWorker).toEqual([]);
  expect(worker.state).toBe('ready');
  await farm.kill();
});

test('message(worker, { callId, res, workerId }), message(worker, { callId, err, workerId }), and message(data) on the worker', async () => {
  const farm = makeFarm({ maxRetries: 0 });
  const [worker] = farm.workers as [WorkestratorWorker];
  const onFarm = recordEvents(farm, ['message']);
  const onWorker = recordEvents(worker, ['message']);
  expect(await farm.run(1, 2, 3)).toBe(6);
  await expect(farm.runMethod('fail', 'bad input')).rejects.toThrow('bad input');
  expect(onFarm).toHaveLength(2);
  const [result, failure] = onFarm.map(({ args }) => args as [WorkestratorWorker, WorkestratorMessage]);
  expect(result?.[0]).toBe(worker);
  expect(result?.[1]).toEqual({ callId: expect.any(Number), res: 6, workerId: worker.id });
  expect(failure?.[0]).toBe(worker);
  expect(Object.keys(failure?.[1] ?? {}).sort()).toEqual(['callId', 'err', 'workerId']);
  expect(failure?.[1].err).toBeInstanceOf(TypeError);
  expect(failure?.[1].err?.message).toBe('bad input');
  expect(failure?.[1].callId).not.toBe(result?.[1].callId);
  expect(onWorker.map(({ args }) => args)).toEqual([[result?.[1]], [failure?.[1]]]);
  await farm.kill();
});

test('error(worker, err) when a worker cannot be spawned, and error(err) on the worker', async () => {
  const farm = makeFarm({ fork: { cwd: '/nonexistent-dir' } });
  const [worker] = farm.workers as [WorkestratorWorker];
  const onWorker = nextEvent(worker, 'error');
  const onFarm = nextEvent(farm, 'error');
  await expect(farm.run(1, 2, 3)).rejects.toBeInstanceOf(ModuleLoadError);
  const [who, error] = await onFarm;
  expect(who).toBe(worker);
  expect(error).toBeInstanceOf(ModuleLoadError);
  expect(((error as ModuleLoadError).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  expect(await onWorker).toEqual([error]);
  await farm.kill();
});

test('error is emitted only when listened to: an unobserved failure does not throw', async () => {
  const farm = makeFarm({ module: fixture('load-throws.cjs') });
  await expect(farm.run()).rejects.toThrow('this module cannot load');
  await farm.kill();
});

test('disconnect(worker), exit(worker, code, signal), close(worker, code, signal), and the same on the worker', async () => {
  const farm = makeFarm();
  const [worker] = farm.workers as [WorkestratorWorker];
  const onWorker = recordEvents(worker, ['disconnect', 'exit', 'close']);
  const onFarm = recordEvents(farm, ['disconnect', 'exit', 'close']);
  const closed = nextEvent(farm, 'close');
  expect(await farm.runMethod('disconnect')).toBe('disconnecting');
  await closed;
  expect(onFarm.map(({ event }) => event)).toEqual(['disconnect', 'exit', 'close']);
  expect(onFarm[0]?.args).toEqual([worker]);
  // The worker leaves on its own (code 0) or is killed by the farm, which cannot reach it any more.
  const [, code, signal] = onFarm[1]?.args as [WorkestratorWorker, number | null, string | null];
  expect([[0, null], [null, 'SIGTERM']]).toContainEqual([code, signal]);
  expect(onFarm[1]?.args).toEqual([worker, code, signal]);
  expect(onFarm[2]?.args).toEqual([worker, code, signal]);
  expect(onWorker).toEqual([
    { event: 'disconnect', args: [] },
    { event: 'exit', args: [code, signal] },
    { event: 'close', args: [code, signal] },
  ]);
  expect(worker.killed).toBe(true);
  expect(farm.workers).not.toContain(worker);
  await farm.kill();
});

test('exit(worker, code, null) for a worker that exits by itself, and a replacement fork(worker)', async () => {
  const farm = makeFarm({ numberOfWorkers: 2 });
  await nextEvent(farm, 'online');
  const exited = nextEvent(farm, 'exit');
  const forked = nextEvent(farm, 'fork');
  await farm.runMethod('exitOnce', tempFile('marker'), 4);
  const [worker, code, signal] = await exited;
  expect([code, signal]).toEqual([4, null]);
  const [replacement] = await forked;
  expect(replacement.id).toBe(3);
  expect(farm.workers).toContain(replacement);
  expect(farm.workers).not.toContain(worker);
  await farm.kill();
});

test('ttl(worker) and ttl() on the worker', async () => {
  const farm = makeFarm({ ttl: 1 });
  const [worker] = farm.workers as [WorkestratorWorker];
  const onWorker = nextEvent(worker, 'ttl');
  const onFarm = nextEvent(farm, 'ttl');
  await farm.run(1, 1, 1);
  expect(await onFarm).toEqual([worker]);
  expect(await onWorker).toEqual([]);
  await farm.kill();
});

test('idle(worker) and idle() on the worker', async () => {
  const farm = makeFarm({ maxIdleTime: 300 });
  const [worker] = farm.workers as [WorkestratorWorker];
  const onWorker = nextEvent(worker, 'idle');
  expect(await nextEvent(farm, 'idle')).toEqual([worker]);
  expect(await onWorker).toEqual([]);
  await farm.kill();
});

test("deflow's memory(worker, bytes) and memory(bytes) on the worker, with maxMemoryMb", async () => {
  const farm = makeFarm({ maxMemoryMb: 1 });
  const [worker] = farm.workers as [WorkestratorWorker];
  const onWorker = nextEvent(worker, 'memory');
  const onFarm = nextEvent(farm, 'memory');
  await farm.run(1, 1, 1);
  const [who, bytes] = await onFarm;
  expect(who).toBe(worker);
  expect(bytes).toBeGreaterThan(1024 * 1024);
  expect(await onWorker).toEqual([bytes]);
  await farm.kill();
});

test('worker fields: id, pid, pendingCalls, killed', async () => {
  const farm = makeFarm({ numberOfWorkers: Math.min(2, os.cpus().length) });
  const [worker] = farm.workers as [WorkestratorWorker];
  await nextEvent(worker, 'online');
  const running = farm.runMethod('sleep', 500, 'done');
  await waitFor(() => worker.pendingCalls + (farm.workers[1]?.pendingCalls ?? 0) === 1);
  expect(await running).toBe('done');
  expect(worker.killed).toBe(false);
  await farm.kill();
  expect(worker.killed).toBe(true);
});
