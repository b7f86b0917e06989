// Workestrator's option table, one option at a time: each documented default, then what each does.
import os from 'node:os';
import { expect, test } from 'vitest';
import { create, MaxConcurrentCallsError, serializers, ValidationError } from '../../src/workestrator/index.js';
import { checkLeaksAfterEach, fixture, isAlive, makeFarm, nextEvent, recordEvents, track, waitFor, WORKER } from './helpers.js';

checkLeaksAfterEach();

test('the documented defaults', async () => {
  const farm = track(create({ module: WORKER }));
  expect(farm.options).toMatchObject({
    module: WORKER,
    killTimeout: 500,
    maxConcurrentCalls: Infinity,
    maxConcurrentCallsPerWorker: 10,
    maxIdleTime: Infinity,
    maxRetries: 3,
    numberOfWorkers: os.cpus().length,
    serializerPath: serializers.JSON,
    timeout: Infinity,
    ttl: Infinity,
  });
  expect(farm.options.fork).toMatchObject({
    args: process.argv,
    cwd: process.cwd(),
    env: process.env,
    execArgv: process.execArgv.filter((arg) => !/^--(debug|inspect)/.test(arg)),
    execPath: process.execPath,
    silent: false,
  });
  // numberOfWorkers workers, listed as soon as create() returns.
  expect(farm.workers).toHaveLength(os.cpus().length);
  await farm.kill();
});

test('fork.args defaults to process.argv: each worker gets the parent arguments', async () => {
  const farm = makeFarm();
  expect(await farm.runMethod('argv')).toEqual(process.argv);
  await farm.kill();
});

test('fork options reach the workers (args, env, cwd), the other defaults kept', async () => {
  const farm = makeFarm({ fork: { args: ['--flag', 'x'], env: { ...process.env, WK_TEST: 'yes' }, cwd: os.tmpdir() } });
  expect(await farm.runMethod('argv')).toEqual(['--flag', 'x']);
  expect(await farm.runMethod('env', 'WK_TEST')).toBe('yes');
  expect(await farm.runMethod('cwd')).toBe(os.tmpdir());
  expect(farm.options.fork.execPath).toBe(process.execPath);
  await farm.kill();
});

test('numberOfWorkers: the farm keeps that many workers', async () => {
  const farm = makeFarm({ numberOfWorkers: 3 });
  expect(farm.workers).toHaveLength(3);
  const [ran] = await farm.broadcastMethod('whoami');
  expect(new Set(ran).size).toBe(3);
  await farm.kill();
});

test('maxConcurrentCallsPerWorker: 10 by default, then what is set', async () => {
  const byDefault = makeFarm();
  const peaks = await Promise.all(Array.from({ length: 15 }, () => byDefault.runMethod('concurrency', 300)));
  expect(Math.max(...(peaks as number[]))).toBe(10);
  await byDefault.kill();
  const two = makeFarm({ maxConcurrentCallsPerWorker: 2 });
  const limited = await Promise.all(Array.from({ length: 5 }, () => two.runMethod('concurrency', 200)));
  expect(Math.max(...(limited as number[]))).toBe(2);
  await two.kill();
});

test('maxConcurrentCalls: Infinity by default; past the limit calls reject with MaxConcurrentCallsError', async () => {
  const unlimited = makeFarm();
  const many = await Promise.all(Array.from({ length: 200 }, (_, i) => unlimited.runMethod('echo', i)));
  expect(many).toHaveLength(200);
  await unlimited.kill();
  const farm = makeFarm({ maxConcurrentCalls: 2 });
  const first = farm.runMethod('sleep', 300, 'a');
  const second = farm.runMethod('sleep', 300, 'b');
  await expect(farm.runMethod('sleep', 300, 'c')).rejects.toBeInstanceOf(MaxConcurrentCallsError);
  expect(await Promise.all([first, second])).toEqual(['a', 'b']);
  expect(await farm.runMethod('echo', 'room again')).toBe('room again');
  await farm.kill();
});

test('timeout: Infinity by default, so a slow call finishes', async () => {
  const farm = makeFarm();
  expect(await farm.runMethod('sleep', 1500, 'slow')).toBe('slow');
  await farm.kill();
});

test('ttl: Infinity by default; with a ttl the worker is replaced after that many calls', async () => {
  const byDefault = makeFarm();
  const pids = [];
  for (let i = 0; i < 25; i++) pids.push(await byDefault.runMethod('whoami'));
  expect(new Set(pids).size).toBe(1);
  await byDefault.kill();
  const farm = makeFarm({ ttl: 2 });
  const ttl = recordEvents(farm, ['ttl']);
  const seen = [];
  for (let i = 0; i < 5; i++) seen.push(await farm.runMethod('whoami'));
  expect(seen[0]).toBe(seen[1]);
  expect(seen[2]).toBe(seen[3]);
  expect(new Set(seen).size).toBe(3);
  expect(ttl).toHaveLength(2);
  await farm.kill();
});

test('maxIdleTime: a worker without a call for that long is killed and another started', async () => {
  const farm = makeFarm({ maxIdleTime: 400 });
  const [first] = farm.workers;
  await nextEvent(farm, 'fork'); // the first worker's, replayed on the next tick
  const idled = nextEvent(farm, 'idle');
  const forked = nextEvent(farm, 'fork');
  const [idle] = await idled;
  expect(idle).toBe(first);
  const [replacement] = await forked;
  expect(replacement.id).not.toBe(first?.id);
  await waitFor(() => first?.killed === true);
  expect(farm.workers).toEqual([replacement]);
  expect(await farm.run(1, 2, 3)).toBe(6);
  await farm.kill();
});

test('killTimeout: 500 by default, then SIGKILL for a worker that ignores SIGTERM', async () => {
  for (const [options, expected] of [[{}, 500], [{ killTimeout: 200 }, 200]] as const) {
    const farm = makeFarm({ module: fixture('ignore-sigterm.cjs'), ...options });
    const pid = (await farm.run()) as number;
    const exited = nextEvent(farm, 'exit');
    const started = performance.now();
    await farm.kill();
    const [, , signal] = await exited;
    expect(signal).toBe('SIGKILL');
    expect(performance.now() - started).toBeGreaterThanOrEqual(expected - 20);
    expect(isAlive(pid)).toBe(false);
  }
});

test('killTimeout: Infinity is accepted: a worker that ignores SIGTERM is never SIGKILLed', async () => {
  const farm = makeFarm({ module: fixture('ignore-sigterm.cjs'), killTimeout: Infinity });
  expect(farm.options.killTimeout).toBe(Infinity);
  const pid = (await farm.run()) as number;
  const killed = farm.kill();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(isAlive(pid)).toBe(true);
  process.kill(pid, 'SIGKILL'); // what the farm would never do
  await killed;
});

test('module: an absolute path found as require() finds it, extension left out included', async () => {
  const farm = makeFarm({ module: fixture('plain') });
  expect(farm.options.module).toBe(fixture('plain.js'));
  expect(await farm.run(6, 7)).toBe(42);
  await farm.kill();
  expect(() => create({ module: fixture('nothing-here') })).toThrow(ValidationError);
  expect(() => create({ module: fixture('nothing-here') })).toThrow(
    `options.module must name an existing file (an absolute path, found as require() would), got '${fixture('nothing-here')}'`,
  );
});

test('bad options throw a ValidationError naming the option', () => {
  expect(() => create({ module: WORKER, numberOfWorkers: 0 })).toThrow('options.numberOfWorkers must be a positive integer, got 0');
  expect(() => create({ module: WORKER, maxRetries: -1 })).toThrow('options.maxRetries must be a non-negative integer, got -1');
  expect(() => create({ module: WORKER, killTimeout: -1 })).toThrow(ValidationError);
  expect(() => create({ module: 'relative/worker.js' })).toThrow("options.module must be an absolute path or a file: URL, got 'relative/worker.js'");
  expect(() => create({ module: WORKER, maxRetry: 2 } as never)).toThrow('options.maxRetry is not a farm option');
});

test("deflow/pool's other options pass through: type 'thread', startupTimeout", async () => {
  const farm = makeFarm({ type: 'thread', startupTimeout: 20_000 });
  expect(farm.options).toMatchObject({ type: 'thread', startupTimeout: 20_000 });
  const [worker] = farm.workers;
  expect(worker?.threadId).toBeGreaterThan(0);
  expect(worker?.pid).toBeUndefined();
  expect(await farm.run(1, 2, 3)).toBe(6);
  await farm.kill();
});
