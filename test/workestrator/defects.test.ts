// The known defects of the original Workestrator, each checked not to happen here.
import { expect, test } from 'vitest';
import { ModuleLoadError, WorkerTerminatedError, kill, type WorkestratorWorker } from '../../src/workestrator/index.js';
import { checkLeaksAfterEach, fixture, makeFarm, nextEvent, outcome, recordEvents, tempFile, waitFor, within } from './helpers.js';

checkLeaksAfterEach();

test("farm.kill() rejects the callers' pending calls instead of leaving them pending for ever", async () => {
  const farm = makeFarm({ numberOfWorkers: 1, maxConcurrentCallsPerWorker: 1 });
  const running = outcome(farm.runMethod('hang'));
  const queued = outcome(farm.runMethod('hang'));
  await waitFor(() => farm.workers[0]?.pendingCalls === 1);
  void farm.kill();
  for (const { error } of await within(Promise.all([running, queued]))) expect(error).toBeInstanceOf(WorkerTerminatedError);
});

test("the module-level kill() rejects every farm's pending calls too", async () => {
  const one = makeFarm();
  const two = makeFarm();
  const calls = [outcome(one.runMethod('hang')), outcome(two.runMethod('hang')), outcome(two.run(1, 2, 3))];
  await waitFor(() => one.workers[0]?.pendingCalls === 1);
  void kill();
  const settled = await within(Promise.all(calls));
  for (const { error } of settled.slice(0, 2)) expect(error).toBeInstanceOf(WorkerTerminatedError);
});

test('a module that fails to load makes calls reject with ModuleLoadError, with or without a timeout', async () => {
  for (const timeout of [undefined, 1000]) {
    const farm = makeFarm({ module: fixture('load-throws.cjs'), ...(timeout === undefined ? {} : { timeout }) });
    const errors = recordEvents(farm, ['error']);
    const { error } = await within(outcome(farm.run()));
    expect(error).toBeInstanceOf(ModuleLoadError);
    expect((error as ModuleLoadError).message).toContain('this module cannot load');
    await expect(within(farm.runMethod('echo', 1))).rejects.toBeInstanceOf(ModuleLoadError);
    expect(errors[0]?.args[1]).toBeInstanceOf(ModuleLoadError);
    await farm.kill();
  }
});

test('a timed-out call is retried on another worker, never on the one being killed', async () => {
  const farm = makeFarm({ numberOfWorkers: 2, timeout: 500, maxRetries: 1 });
  const exited = nextEvent(farm, 'exit');
  const pid = await within(farm.runMethod('hangOnce', tempFile('marker')));
  const [killed] = await exited;
  expect(killed.pid).not.toBe(pid);
  expect(farm.workers.map((worker) => worker.pid)).not.toContain(killed.pid);
  await farm.kill();
});

test('the idle timer starts when the worker is ready: a worker that never got a call goes idle too', async () => {
  const farm = makeFarm({ maxIdleTime: 400 });
  const [first] = farm.workers as [WorkestratorWorker];
  const [online] = await nextEvent(farm, 'online');
  const ready = performance.now();
  const [idle] = await within(nextEvent(farm, 'idle'));
  expect(online).toBe(first);
  expect(idle).toBe(first);
  expect(performance.now() - ready).toBeGreaterThanOrEqual(350);
  // ...and, as documented, replaced.
  await waitFor(() => farm.workers.length === 1 && farm.workers[0] !== first);
  await farm.kill();
});
