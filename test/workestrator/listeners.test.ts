// A listener that throws, on the farm or on a worker, never corrupts the farm: for every event,
// calls still settle, workers are still replaced and stopped, kill() still resolves, and the
// listener's error comes out as an uncaught exception on the next tick.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { ModuleLoadError, TimeoutError, type WorkestratorFarm, type WorkestratorFarmEvents, type WorkestratorOptions } from '../../src/workestrator/index.js';
import { captureUncaught, checkLeaksAfterEach, makeFarm, nextEvent, recordEvents, tempFile, waitFor, within } from './helpers.js';

checkLeaksAfterEach();

let uncaught: ReturnType<typeof captureUncaught>;
beforeEach(() => {
  uncaught = captureUncaught();
});
afterEach(() => uncaught.restore());

type EventName = keyof WorkestratorFarmEvents;

/**
 * A farm whose listeners of `event` throw, on the farm and on every worker (those of create()
 * and later ones), after a listener that records the event.
 */
function farmWithThrowingListeners(event: EventName, options: Partial<WorkestratorOptions> = {}): { farm: WorkestratorFarm; seen: unknown[] } {
  const farm = makeFarm(options);
  const seen = recordEvents(farm, [event]);
  const bug = (where: string) => () => {
    throw new Error(`${where} ${event} listener bug`);
  };
  const onWorker = (worker: WorkestratorFarm['workers'][number]): void => {
    worker.on(event, bug('worker'));
  };
  farm.workers.forEach(onWorker);
  farm.on('fork', (worker) => {
    if (!worker.listeners(event).length) onWorker(worker);
  });
  farm.on(event, bug('farm'));
  return { farm, seen };
}

/** Both the farm's and the workers' listener errors surfaced, and only those. */
async function expectRethrown(event: EventName, where: ('farm' | 'worker')[] = ['farm', 'worker']): Promise<void> {
  await waitFor(() => where.every((who) => uncaught.errors.some((error) => error.message === `${who} ${event} listener bug`)));
  for (const error of uncaught.errors) expect(error.message).toMatch(new RegExp(`^(farm|worker) ${event} listener bug$`));
}

test('fork: a throwing listener while a timed-out worker is replaced leaves no call pending', async () => {
  const { farm } = farmWithThrowingListeners('fork', { timeout: 300, maxRetries: 0 });
  expect(await within(farm.runMethod('hang').catch((e: unknown) => e))).toBeInstanceOf(TimeoutError);
  expect(await within(farm.run(1, 2, 3))).toBe(6);
  await expectRethrown('fork');
  await within(farm.kill(), 20_000, 'kill()');
});

test('online: the worker still takes calls', async () => {
  const { farm, seen } = farmWithThrowingListeners('online');
  expect(await within(farm.run(1, 2, 3))).toBe(6);
  expect(seen).toHaveLength(1);
  await expectRethrown('online');
  await farm.kill();
});

test('message: every call of a batch still settles', async () => {
  const { farm } = farmWithThrowingListeners('message');
  expect(await within(Promise.all([farm.run(1, 1, 1), farm.runMethod('echo', 'b'), farm.runMethod('echo', 'c')]))).toEqual([3, 'b', 'c']);
  await expectRethrown('message');
  await farm.kill();
});

test('ttl: calls still resolve and the worker is still recycled', async () => {
  const { farm, seen } = farmWithThrowingListeners('ttl', { ttl: 1 });
  expect(await within(farm.runMethod('whoami'))).not.toBe(await within(farm.runMethod('whoami')));
  expect(seen.length).toBeGreaterThanOrEqual(2);
  await expectRethrown('ttl');
  await farm.kill();
});

test('idle: the idle worker is still stopped and replaced', async () => {
  const { farm } = farmWithThrowingListeners('idle', { maxIdleTime: 300 });
  const [first] = farm.workers;
  await within(nextEvent(farm, 'idle'));
  await waitFor(() => first?.killed === true && farm.workers.length === 1);
  expect(await within(farm.run(1, 2, 3))).toBe(6);
  await expectRethrown('idle');
  await farm.kill();
});

test('memory: the worker over the limit is still replaced', async () => {
  const { farm } = farmWithThrowingListeners('memory', { maxMemoryMb: 1 });
  const [first] = farm.workers;
  expect(await within(farm.run(1, 2, 3))).toBe(6);
  await waitFor(() => first?.killed === true);
  await expectRethrown('memory');
  await farm.kill();
});

test('disconnect: the unreachable worker is still replaced', async () => {
  const { farm } = farmWithThrowingListeners('disconnect');
  expect(await within(farm.runMethod('disconnect'))).toBe('disconnecting');
  await waitFor(() => farm.workers[0]?.id === 2);
  expect(await within(farm.run(1, 2, 3))).toBe(6);
  await expectRethrown('disconnect');
  await farm.kill();
});

test('error: calls to a worker that cannot be spawned still reject', async () => {
  const { farm } = farmWithThrowingListeners('error', { fork: { cwd: '/nonexistent-dir' } });
  await expect(within(farm.run(1, 2, 3))).rejects.toBeInstanceOf(ModuleLoadError);
  await expectRethrown('error');
  await within(farm.kill(), 20_000, 'kill()');
});

test('exit: a crashed call is still retried and kill() still resolves', async () => {
  const { farm } = farmWithThrowingListeners('exit', { numberOfWorkers: 2 });
  expect(await within(farm.runMethod('exitOnce', tempFile('marker'), 3))).toEqual(expect.any(Number));
  await within(farm.kill(), 20_000, 'kill()');
  await expectRethrown('exit');
});

test('close: the farm still serves and kill() still resolves', async () => {
  const { farm, seen } = farmWithThrowingListeners('close', { ttl: 1 });
  expect(await within(farm.run(1, 2, 3))).toBe(6);
  await waitFor(() => seen.length === 1);
  expect(await within(farm.run(1, 2, 3))).toBe(6);
  await within(farm.kill(), 20_000, 'kill()');
  await expectRethrown('close');
});
