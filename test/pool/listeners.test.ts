// An event listener that throws is the caller's bug, not the farm's: calls still settle, workers
// are still replaced and stopped, the other listeners still run, and the error surfaces as an
// uncaught exception on the next tick (as a throw in a timer callback would).
import { afterEach, beforeEach, expect, test } from 'vitest';
import { ModuleLoadError, TimeoutError, type Farm } from '../../src/pool/index.js';
import { basicFarm, captureUncaught, checkLeaksAfterEach, fixture, makeFarm, nextEvent, waitFor, within, type Basic } from './helpers.js';

checkLeaksAfterEach();

let uncaught: ReturnType<typeof captureUncaught>;
beforeEach(() => {
  uncaught = captureUncaught();
});
afterEach(() => uncaught.restore());

function throwing(event: string): () => never {
  return () => {
    throw new Error(`${event} listener bug`);
  };
}

/** The listener errors, rethrown by the farm, reached the process as uncaught exceptions. */
async function expectRethrown(event: string): Promise<void> {
  await waitFor(() => uncaught.errors.length > 0);
  for (const error of uncaught.errors) expect(error.message).toBe(`${event} listener bug`);
}

test('a fork listener that throws while a timed-out worker is replaced: the call still fails with its TimeoutError', async () => {
  const farm = basicFarm({ timeout: 300, maxRetries: 0 });
  await nextEvent(farm, 'online');
  farm.on('fork', throwing('fork'));
  const error = await within(farm.runMethod('hang').catch((e: unknown) => e));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(await within(farm.run(1, 2))).toBe(3); // the replacement serves
  await expectRethrown('fork');
  await farm.kill();
});

test('a fork listener that throws at start: every worker is still spawned', async () => {
  const farm = basicFarm({ numberOfWorkers: 2 });
  farm.on('fork', throwing('fork'));
  await waitFor(() => farm.workers.length === 2);
  expect(await within(farm.run(1, 2))).toBe(3);
  await expectRethrown('fork');
  expect(uncaught.errors).toHaveLength(2);
  await farm.kill();
});

test('an online listener that throws: the worker still takes calls', async () => {
  const farm = basicFarm();
  farm.on('online', throwing('online'));
  expect(await within(farm.run(1, 2))).toBe(3);
  await expectRethrown('online');
  await farm.kill();
});

test('the other listeners of an event still run after one throws', async () => {
  const farm = basicFarm();
  const seen: number[] = [];
  farm.on('online', throwing('online'));
  farm.on('online', (worker) => seen.push(worker.id));
  await within(farm.run(1, 2));
  expect(seen).toEqual([1]);
  await farm.kill();
});

test('a message listener that throws: every call of the batch still settles', async () => {
  const farm = basicFarm();
  await nextEvent(farm, 'online');
  farm.on('message', throwing('message'));
  const results = await within(Promise.all([farm.run(1, 1), farm.run(2, 2), farm.runMethod('echo', 'three')]));
  expect(results).toEqual([2, 4, 'three']);
  await expectRethrown('message');
  await farm.kill();
});

test('a ttl listener that throws: the call resolves and the worker is still recycled', async () => {
  const farm = basicFarm({ ttl: 1 });
  farm.on('ttl', throwing('ttl'));
  const exited = nextEvent(farm, 'exit');
  expect(await within(farm.run(1, 2))).toBe(3);
  expect((await within(exited, 20_000, 'the exit'))[0].stopReason).toBe('ttl');
  expect(await within(farm.run(2, 2))).toBe(4);
  await expectRethrown('ttl');
  await farm.kill();
});

test('an idle listener that throws: the idle worker is still stopped', async () => {
  const farm = basicFarm({ maxIdleTime: 300 });
  farm.on('idle', throwing('idle'));
  await waitFor(() => farm.workers.length === 1);
  await waitFor(() => farm.workers.length === 0);
  expect(await within(farm.run(1, 2))).toBe(3);
  await expectRethrown('idle');
  await farm.kill();
});

test('a memory listener that throws: the worker over the limit is still replaced', async () => {
  const farm = basicFarm({ maxMemoryMb: 1 });
  farm.on('memory', throwing('memory'));
  const exited = nextEvent(farm, 'exit');
  expect(await within(farm.run(1, 2))).toBe(3);
  expect((await within(exited, 20_000, 'the exit'))[0].stopReason).toBe('memory');
  await expectRethrown('memory');
  await farm.kill();
});

test('a disconnect listener that throws: the unreachable worker is still killed and replaced', async () => {
  const farm = basicFarm();
  farm.on('disconnect', throwing('disconnect'));
  const exited = nextEvent(farm, 'exit');
  expect(await within(farm.runMethod('disconnect'))).toBe('disconnecting');
  expect((await within(exited, 20_000, 'the exit'))[0].stopReason).toBe('crash');
  expect(await within(farm.run(2, 2))).toBe(4);
  await expectRethrown('disconnect');
  await farm.kill();
});

test('an error listener that throws: calls to a module that cannot load still reject', async () => {
  const farm = makeFarm<unknown>({ module: fixture('load-throws.ts') });
  farm.on('error', throwing('error'));
  await expect(within((farm as Farm<{ default(): void }>).run())).rejects.toBeInstanceOf(ModuleLoadError);
  await expectRethrown('error');
  await farm.kill();
});

test('an exit listener that throws: crashed calls are retried and kill() still resolves', async () => {
  const farm: Farm<Basic> = basicFarm({ numberOfWorkers: 2 });
  farm.on('exit', throwing('exit'));
  expect(await within(farm.runMethod('exit', 3).catch((e: unknown) => e))).toBeInstanceOf(Error);
  expect(await within(farm.run(1, 2))).toBe(3);
  await within(farm.kill(), 20_000, 'kill()');
  await expectRethrown('exit');
});

test('a close listener that throws: the farm still serves and kill() still resolves', async () => {
  const farm = basicFarm({ ttl: 1 });
  farm.on('close', throwing('close'));
  const closed = nextEvent(farm, 'close');
  expect(await within(farm.run(1, 2))).toBe(3);
  await within(closed, 20_000, 'the close');
  expect(await within(farm.run(2, 2))).toBe(4);
  await within(farm.kill(), 20_000, 'kill()');
  await expectRethrown('close');
});
