// Workers that crash, hang or get aborted: retries, timeouts and what each caller receives.
import { describe, expect, test } from 'vitest';
import { CallMaxRetryError, TimeoutError, WorkerTerminatedError } from '../../src/pool/index.js';
import { basicFarm, checkLeaksAfterEach, fixture, isAlive, makeFarm, nextEvent, recordEvents, tempFile, TYPES, waitFor } from './helpers.js';

checkLeaksAfterEach();

describe.each(TYPES)('%s workers', (type) => {
  test('a call whose worker exits is retried on another worker', async () => {
    const farm = basicFarm({ type, numberOfWorkers: 2 });
    const events = recordEvents(farm, ['exit']);
    expect(await farm.runMethod('exitOnce', tempFile('marker'), 7)).toBe('survived');
    expect(events).toHaveLength(1);
    expect(events[0]?.args[1]).toBe(7);
    expect((events[0]?.args[0] as { stopReason: string }).stopReason).toBe('crash');
    await farm.kill();
  });

  test('with maxRetries 0 the crash itself is the error', async () => {
    const farm = basicFarm({ type, maxRetries: 0 });
    const error = (await farm.runMethod('exit', 9).catch((e: unknown) => e)) as WorkerTerminatedError;
    expect(error).toBeInstanceOf(WorkerTerminatedError);
    expect(error.exitCode).toBe(9);
    expect(error.workerId).toBe(1);
    expect(error.message).toBe('worker 1 exited unexpectedly (code 9, signal null)');
    await farm.kill();
  });

  test('a call that keeps crashing fails with CallMaxRetryError and the last failure as reason', async () => {
    const farm = basicFarm({ type, maxRetries: 2 });
    const error = (await farm.runMethod('exit', 4).catch((e: unknown) => e)) as CallMaxRetryError;
    expect(error).toBeInstanceOf(CallMaxRetryError);
    expect(error.code).toBe('ERR_POOL_CALL_MAX_RETRY');
    expect(error.attempts).toBe(3);
    expect(error.reason).toBeInstanceOf(WorkerTerminatedError);
    expect((error.reason as WorkerTerminatedError).exitCode).toBe(4);
    expect(error.cause).toBe(error.reason);
    // The farm replaced every crashed worker and still serves.
    expect(await farm.run(1, 1)).toBe(2);
    await farm.kill();
  });

  test('a call over its timeout kills its worker (really stopping a busy loop) and rejects with TimeoutError', async () => {
    const farm = basicFarm({ type, maxRetries: 0, timeout: 300 });
    const [worker] = await nextEvent(farm, 'online');
    const exited = nextEvent(farm, 'exit');
    const error = (await farm.runMethod('spin').catch((e: unknown) => e)) as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.code).toBe('ERR_TIMEOUT');
    expect(error.timeoutMs).toBe(300);
    expect(error.message).toBe(`call 'spin' did not finish within 300 ms; its worker ${worker.id} was killed`);
    const [gone] = await exited;
    expect(gone.id).toBe(worker.id);
    expect(gone.stopReason).toBe('timeout');
    if (worker.pid !== undefined) expect(isAlive(worker.pid)).toBe(false);
    expect(await farm.run(2, 3)).toBe(5);
    await farm.kill();
  });

  test('a timed-out call is retried on a live worker, never on the one being killed', async () => {
    const farm = basicFarm({ type, numberOfWorkers: 2, maxRetries: 1 });
    const exited = nextEvent(farm, 'exit');
    const answer = (await farm.call({ method: 'hangOnce', args: [tempFile('marker')], timeout: 400 })) as { pid: number; threadId: number };
    const [killed] = await exited;
    expect(killed.stopReason).toBe('timeout');
    if (type === 'process') expect(answer.pid).not.toBe(killed.pid);
    else expect(answer.threadId).not.toBe(killed.threadId);
    await farm.kill();
  });

  test("the other calls of a killed worker are re-queued without using a retry", async () => {
    const farm = basicFarm({ type, maxRetries: 0, maxConcurrentCallsPerWorker: 2 });
    await nextEvent(farm, 'online');
    const hanging = farm.call({ method: 'hang', timeout: 300 });
    const innocent = farm.runMethod('sleep', 600, 'innocent');
    await expect(hanging).rejects.toBeInstanceOf(TimeoutError);
    expect(await innocent).toBe('innocent');
    await farm.kill();
  });

  test('aborting a queued call removes it; the running ones are untouched', async () => {
    const farm = basicFarm({ type, maxConcurrentCallsPerWorker: 1 });
    const running = farm.runMethod('sleep', 300, 'first');
    const controller = new AbortController();
    const queued = farm.call({ method: 'echo', args: ['second'], signal: controller.signal });
    controller.abort();
    await expect(queued).rejects.toMatchObject({ name: 'AbortError' });
    expect(await running).toBe('first');
    expect(farm.workers[0]?.received).toBe(1);
    await farm.kill();
  });

  test('aborting a running call kills its worker and rejects with the abort reason', async () => {
    const farm = basicFarm({ type });
    const [worker] = await nextEvent(farm, 'online');
    const controller = new AbortController();
    const call = farm.call({ method: 'spin', signal: controller.signal });
    const exited = nextEvent(farm, 'exit');
    await waitFor(() => farm.workers.some((w) => w.load > 0)); // running, not queued
    controller.abort(new Error('user cancelled'));
    await expect(call).rejects.toThrow('user cancelled');
    const [gone] = await exited;
    expect(gone.id).toBe(worker.id);
    expect(gone.stopReason).toBe('abort');
    expect(await farm.run(1, 2)).toBe(3);
    await farm.kill();
  });

  test('an already aborted signal rejects at once', async () => {
    const farm = basicFarm({ type });
    const reason = new Error('too late');
    await expect(farm.call({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await farm.kill();
  });

  test('an exception thrown outside any call crashes the worker, which is replaced', async () => {
    const farm = basicFarm({ type });
    const [worker] = await nextEvent(farm, 'online');
    const exited = nextEvent(farm, 'exit');
    expect(await farm.runMethod('throwLater', 'stray timer')).toBe('scheduled');
    const [gone, code] = await exited;
    expect(gone.id).toBe(worker.id);
    expect(gone.stopReason).toBe('crash');
    expect(code).toBe(1);
    expect(await farm.run(1, 2)).toBe(3);
    expect(farm.workers.map((w) => w.id)).toEqual([2]);
    await farm.kill();
  });
});

test('killTimeout: a process that ignores SIGTERM is SIGKILLed once killTimeout has passed', async () => {
  const farm = makeFarm<{ spin(): never }>({ module: fixture('ignore-sigterm.ts'), killTimeout: 300 });
  await nextEvent(farm, 'online');
  const call = farm.runMethod('spin').catch((e: unknown) => e);
  await waitFor(() => farm.workers.some((w) => w.load > 0)); // the call went to the worker
  const exited = nextEvent(farm, 'exit');
  const started = performance.now();
  await farm.kill();
  const [, , signal] = await exited;
  expect(signal).toBe('SIGKILL');
  expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  expect(await call).toBeInstanceOf(WorkerTerminatedError);
});
