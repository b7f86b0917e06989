// What a caller sees from run / runMethod / call, in both worker types.
import { describe, expect, test } from 'vitest';
import { ModuleLoadError, ValidationError, WorkerTerminatedError, killAllFarms } from '../../src/pool/index.js';
import { TimeoutError as SharedTimeoutError } from '../../src/errors.js';
import { TimeoutError } from '../../src/pool/index.js';
import { basicFarm, checkLeaksAfterEach, fixture, makeFarm, nextEvent, settledLater, TYPES } from './helpers.js';

checkLeaksAfterEach();

describe.each(TYPES)('%s workers', (type) => {
  test('an error made in another realm (vm) arrives with its class name, message, stack and own properties', async () => {
    const farm = basicFarm({ type });
    const error = await farm.runMethod('failInOtherRealm').catch((e: unknown) => e as Error & Record<string, unknown>);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe('from a vm');
    expect(error.code).toBe('E_VM');
    expect(error.stack).toMatch(/^TypeError: from a vm\n/);
    await farm.kill();
  });

  test('run calls the default export, runMethod a named one; undefined stays undefined', async () => {
    const farm = basicFarm({ type });
    expect(await farm.run(1, 2)).toBe(3);
    expect(await farm.runMethod('echo', { nested: [1, 'two', null] })).toEqual({ nested: [1, 'two', null] });
    expect(await farm.runMethod('nothing')).toBeUndefined();
    expect(await farm.call({ method: 'sleep', args: [5, 'late'] })).toBe('late');
    expect(await farm.call({ args: [40, 2] })).toBe(42);
    await farm.kill();
  });

  test('an error thrown in the worker arrives with its class name, message, stack and own properties', async () => {
    const farm = basicFarm({ type });
    const error = await farm.runMethod('fail', 'bad input').catch((e: unknown) => e as Error & Record<string, unknown>);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('CustomError');
    expect(error.message).toBe('bad input');
    expect(error.code).toBe('E_CUSTOM');
    expect(error.details).toEqual({ attempt: 1 });
    expect(error.stack).toContain('fixtures/basic.ts');

    const async = await farm.runMethod('failAsync', 'out of range').catch((e: unknown) => e as Error);
    expect(async).toBeInstanceOf(RangeError);
    expect(async.message).toBe('out of range');
    expect((async.cause as Error).message).toBe('root cause');

    const aggregate = await farm.runMethod('failAggregate').catch((e: unknown) => e as AggregateError);
    expect(aggregate).toBeInstanceOf(AggregateError);
    expect(aggregate.message).toBe('several things failed');
    expect(aggregate.stack).toContain('fixtures/basic.ts');
    expect(aggregate.errors).toHaveLength(3);
    const [first, second, third] = aggregate.errors as Error[];
    expect(first).toBeInstanceOf(RangeError);
    expect(first?.message).toBe('first');
    expect(second).toBeInstanceOf(TypeError);
    expect((second?.cause as Error).message).toBe('why');
    expect(third).toBeInstanceOf(Error);
    expect(third?.message).toBe('third');

    const thrown = await farm.runMethod('throwString').catch((e: unknown) => e as Error);
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown.message).toBe('a plain string');

    // A thrown error is the function's answer: not retried, and the worker keeps serving.
    expect(farm.workers).toHaveLength(1);
    expect(farm.workers[0]?.received).toBe(4);
    await farm.kill();
  });

  test('an unknown method is a TypeError naming it', async () => {
    const farm = basicFarm({ type });
    await expect(farm.call({ method: 'nope' })).rejects.toThrow(/exports no function named 'nope'/);
    await expect(farm.call({ method: 'constructor' })).rejects.toBeInstanceOf(TypeError);
    await farm.kill();
  });

  test('methods of a default-exported object run with it as `this` (step handler shape)', async () => {
    const farm = makeFarm<unknown>({ module: fixture('step-like.ts'), type });
    expect(await farm.runMethod('handler', 'x')).toBe('handled:x');
    await expect(farm.run()).rejects.toThrow(/has no default export function/);
    await farm.kill();
  });

  test('CommonJS modules: module.exports is the default, its properties are methods', async () => {
    const farm = makeFarm<unknown>({ module: fixture('commonjs.cjs'), type });
    expect(await farm.run(2, 3)).toBe(5);
    expect(await farm.runMethod('shout', 'hi')).toBe('HI');
    // module.exports.name is also a named export to Node's ESM loader: still called on module.exports.
    expect(await farm.runMethod('shoutTwice', 'hi')).toBe('HI HI');
    await farm.kill();
  });

  test('events: fork, online, message, exit and close', async () => {
    const farm = basicFarm({ type });
    const [forked] = await nextEvent(farm, 'fork');
    expect(forked.type).toBe(type);
    expect(type === 'process' ? forked.pid : forked.threadId).toBeGreaterThan(0);
    const [online] = await nextEvent(farm, 'online');
    expect(online.id).toBe(forked.id);
    expect(online.state).toBe('ready');
    const message = nextEvent(farm, 'message');
    await farm.run(1, 1);
    const [worker, data] = await message;
    expect(worker.id).toBe(forked.id);
    expect(data).toMatchObject({ workerId: forked.id, ok: true, value: 2 });
    const exited = nextEvent(farm, 'exit');
    const closed = nextEvent(farm, 'close');
    await farm.kill();
    expect((await exited)[0].stopReason).toBe('farm-killed');
    expect((await closed)[0].id).toBe(forked.id);
  });

  test('kill() rejects every pending call, queued or running, and later calls', async () => {
    const farm = basicFarm({ type, maxConcurrentCallsPerWorker: 2 });
    await nextEvent(farm, 'online');
    const pending = [farm.runMethod('spin'), farm.runMethod('hang'), farm.runMethod('sleep', 10), farm.run(1, 2)];
    const settled = Promise.allSettled(pending);
    await farm.kill();
    for (const outcome of await settled) {
      expect(outcome.status).toBe('rejected');
      const error = (outcome as PromiseRejectedResult).reason as WorkerTerminatedError;
      expect(error).toBeInstanceOf(WorkerTerminatedError);
      expect(error.code).toBe('ERR_POOL_WORKER_TERMINATED');
      expect(error.message).toMatch(/the farm was killed before call '\w+' finished/);
    }
    expect(farm.state).toBe('killed');
    expect(farm.workers).toEqual([]);
    await expect(farm.run(1, 2)).rejects.toThrow(/the farm was killed; create a new farm/);
    await expect(farm.kill()).resolves.toBeUndefined();
  });

  test('kill() during start-up rejects the calls waiting for the first worker', async () => {
    const farm = basicFarm({ type });
    const call = settledLater(farm.run(1, 2))[0]!;
    await farm.kill();
    expect((await call).reason).toBeInstanceOf(WorkerTerminatedError);
  });

  test('killAllFarms() kills every farm', async () => {
    const farms = [basicFarm({ type }), basicFarm({ type })];
    const calls = settledLater(...farms.map((farm) => farm.runMethod('hang')));
    await killAllFarms();
    for (const farm of farms) expect(farm.state).toBe('killed');
    for (const call of calls) expect((await call).reason).toBeInstanceOf(WorkerTerminatedError);
  });
});

describe('call options', () => {
  test('a per-call timeout is validated like the option', async () => {
    const farm = basicFarm();
    await expect(farm.call({ timeout: -1 })).rejects.toThrow(
      new ValidationError('call options.timeout must be a positive number of milliseconds or Infinity, got -1'),
    );
    await expect(farm.call({ method: '' })).rejects.toThrow("call options.method must be a non-empty string naming an export of the worker module, got ''");
    await farm.kill();
  });

  test('per-call options are checked before the call counts, each with a precise ValidationError', async () => {
    const farm = basicFarm({ maxConcurrentCalls: 1 });
    const cases: [unknown, string][] = [
      [5, 'call options must be an object ({ method?, args?, signal?, timeout? }), got 5'],
      [{ method: 5 }, 'call options.method must be a non-empty string naming an export of the worker module, got 5'],
      [{ args: 'abc' }, "call options.args must be an array of arguments (e.g. args: [value]), got 'abc'"],
      [{ args: 5 }, 'call options.args must be an array of arguments (e.g. args: [value]), got 5'],
      [
        { signal: new AbortController() },
        'call options.signal must be an AbortSignal (pass controller.signal, not the AbortController), got AbortController',
      ],
      [{ methd: 'echo' }, 'call options.methd is not a call option (method, args, signal, timeout)'],
    ];
    for (const [options, message] of cases) {
      const error = (await farm.call(options as never).catch((e: unknown) => e)) as ValidationError;
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.code).toBe('ERR_VALIDATION');
      expect(error.message).toBe(message);
      expect(farm.pendingCalls).toBe(0);
    }
    await expect((farm as unknown as { runMethod(method: unknown): Promise<unknown> }).runMethod(5)).rejects.toThrow(
      new ValidationError('method must be a non-empty string naming an export of the worker module, got 5'),
    );
    // No slot of maxConcurrentCalls (1) leaked: a real call still goes through.
    expect(await farm.call({ method: 'echo', args: ['ok'], signal: new AbortController().signal })).toBe('ok');
    await farm.kill();
  });

  test('the pool and the engine share one TimeoutError class', () => {
    expect(TimeoutError).toBe(SharedTimeoutError);
  });

  test('fork.args and thread.argv reach the worker as process.argv', async () => {
    const child = basicFarm({ fork: { args: ['--region', 'eu'] } });
    expect(await child.runMethod('argv')).toEqual(['--region', 'eu']);
    const thread = basicFarm({ type: 'thread', thread: { argv: ['--region', 'us'] } });
    expect(await thread.runMethod('argv')).toEqual(['--region', 'us']);
    await Promise.all([child.kill(), thread.kill()]);
  });

  test('the module may be a file: URL', async () => {
    const farm = makeFarm({ module: new URL('./fixtures/basic.ts', import.meta.url).href });
    expect(await farm.run(2, 2)).toBe(4);
    await farm.kill();
  });

  test('a farm whose module is missing rejects calls with ModuleLoadError', async () => {
    const farm = makeFarm({ module: fixture('does-not-exist.ts'), maxRetries: 0 });
    await expect(farm.run(1, 2)).rejects.toBeInstanceOf(ModuleLoadError);
    await farm.kill();
  });
});
