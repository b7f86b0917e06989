// Round trips through each serializer, in both worker types, and what happens when one fails.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { ModuleLoadError, CallSerializationError } from '../../src/pool/index.js';
import { basicFarm, checkLeaksAfterEach, fixture, TYPES } from './helpers.js';

checkLeaksAfterEach();

const rich = () => ({
  map: new Map<unknown, unknown>([
    ['a', 1],
    [2, { deep: true }],
  ]),
  set: new Set([1, 'two']),
  date: new Date('2024-02-29T12:00:00.000Z'),
  big: 2n ** 80n,
  buffer: Buffer.from('héllo'),
  floats: new Float64Array([1.5, -2.25]),
  nested: [{ undefinedInside: undefined, n: null }],
});

describe.each(TYPES)('%s workers', (type) => {
  test.each(['advanced', 'cbor'] as const)('%s keeps Map, Set, Date, BigInt, Buffer and typed arrays', async (serializer) => {
    const farm = basicFarm({ type, serializer });
    const back = (await farm.runMethod('echo', rich())) as ReturnType<typeof rich>;
    const sent = rich();
    expect(back.map).toEqual(sent.map);
    expect(back.set).toEqual(sent.set);
    expect(back.date).toBeInstanceOf(Date);
    expect(back.date.getTime()).toBe(sent.date.getTime());
    expect(back.big).toBe(sent.big);
    expect(Buffer.isBuffer(back.buffer)).toBe(true);
    expect(back.buffer.toString()).toBe('héllo');
    expect(back.floats).toBeInstanceOf(Float64Array);
    expect([...back.floats]).toEqual([1.5, -2.25]);
    expect(back.nested[0]).toHaveProperty('n', null);
    // Same shapes many times (cbor-x records must not depend on earlier messages).
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => farm.runMethod('echo', { i, m: new Map([[i, i]]) })));
    expect(many.map((v) => (v as { m: Map<number, number> }).m.get((v as { i: number }).i))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await farm.kill();
  });

  test('json follows JSON semantics, the same in both worker types', async () => {
    const farm = basicFarm({ type });
    const back = (await farm.runMethod('echo', { date: new Date(0), map: new Map([[1, 2]]), list: [undefined, 1] })) as Record<string, unknown>;
    expect(back).toEqual({ date: '1970-01-01T00:00:00.000Z', map: {}, list: [null, 1] });
    await farm.kill();
  });

  test('json: a result JSON encodes as nothing (function, symbol) resolves undefined, as in the other worker type', async () => {
    const farm = basicFarm({ type });
    expect(await farm.runMethod('returnsFunction')).toBeUndefined();
    expect(await farm.runMethod('returnsSymbol')).toBeUndefined();
    expect(await farm.runMethod('returnsUndefinedJson')).toBeUndefined();
    // Inside a value, JSON rules apply as usual.
    expect(await farm.runMethod('echo', [1])).toEqual([1]);
    await farm.kill();
  });

  test('json: an argument JSON cannot encode fails that call only, with CallSerializationError', async () => {
    const farm = basicFarm({ type, maxConcurrentCallsPerWorker: 4 });
    const [bad, good] = await Promise.allSettled([farm.runMethod('echo', 10n), farm.runMethod('echo', 'fine')]);
    expect(bad.status).toBe('rejected');
    const error = (bad as PromiseRejectedResult).reason as CallSerializationError;
    expect(error).toBeInstanceOf(CallSerializationError);
    expect(error.code).toBe('ERR_POOL_SERIALIZATION');
    expect(error.message).toMatch(/the arguments of 'echo' could not be serialized with the 'json' serializer: .*BigInt/);
    expect(good).toEqual({ status: 'fulfilled', value: 'fine' });
    await farm.kill();
  });

  test('a result the serializer cannot encode fails that call only', async () => {
    const farm = basicFarm({ type, serializer: 'advanced' });
    const error = (await farm.runMethod('returnsFunction').catch((e: unknown) => e)) as Error & { code?: string };
    expect(error.message).toMatch(/the result could not be serialized with the 'advanced' serializer/);
    expect(error.code).toBe('ERR_POOL_SERIALIZATION');
    expect(await farm.runMethod('echo', 'still fine')).toBe('still fine');
    await farm.kill();
  });

  test('a custom serializer module (and the serializerPath alias)', async () => {
    for (const options of [{ serializer: fixture('serializer.ts') }, { serializerPath: fixture('serializer.ts') }]) {
      const farm = basicFarm({ type, ...options });
      const value = { when: new Date(5), tags: new Set(['x']), big: 7n, index: new Map([['k', 'v']]) };
      expect(await farm.runMethod('echo', value)).toEqual(value);
      await farm.kill();
    }
  });

  test('a custom serializer may encode to values other than text or bytes: they cross as they are', async () => {
    const farm = basicFarm({ type, serializer: fixture('object-serializer.ts') });
    expect(await farm.runMethod('echo', { list: [1, 'two'], when: new Date(5) })).toEqual({ list: [1, 'two'], when: new Date(5) });
    await farm.kill();
  });

  test('a serializer module without encode/decode makes calls fail with ModuleLoadError naming it', async () => {
    const farm = basicFarm({ type, serializer: fixture('not-a-serializer.ts') });
    const error = (await farm.run(1, 2).catch((e: unknown) => e)) as ModuleLoadError;
    expect(error).toBeInstanceOf(ModuleLoadError);
    expect(error.message).toMatch(/must export encode\(value\) and decode\(data\)/);
    expect(error.module).toBe(pathToFileURL(fixture('not-a-serializer.ts')).href);
    await farm.kill();
  });

  test('a serializer that workers cannot load: the ModuleLoadError names the serializer, not the module', async () => {
    const serializer = pathToFileURL(fixture('serializer-fails-in-workers.ts')).href;
    const farm = basicFarm({ type, serializer });
    const error = (await farm.run(1, 2).catch((e: unknown) => e)) as ModuleLoadError;
    expect(error).toBeInstanceOf(ModuleLoadError);
    expect(error.module).toBe(serializer);
    expect(error.message).toBe(`worker 1 could not load serializer ${serializer}: this serializer cannot load in a worker`);
    await farm.kill();
  });
});

// The farm's process loads the serializer too: a plain JavaScript parent (the built package, no
// tsx of its own) must manage a .ts serializer as its workers do. Needs `npm run build` (npm test builds first).
const built = new URL('../../dist/pool/index.js', import.meta.url);
test.skipIf(!fs.existsSync(built))('a .ts serializer works from a plain JavaScript parent, in both worker types', async () => {
  const code = `
    const { createFarm } = await import(${JSON.stringify(built.href)});
    for (const type of ['process', 'thread']) {
      const farm = createFarm({ module: ${JSON.stringify(fixture('basic.ts'))}, type, numberOfWorkers: 1, serializer: ${JSON.stringify(fixture('serializer.ts'))} });
      const back = await farm.runMethod('echo', { when: new Date(5) }).catch((error) => error);
      console.log(type, back instanceof Error ? back.message : back.when instanceof Date);
      await farm.kill();
    }`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], { timeout: 60_000 });
  expect(stdout.trim().split('\n')).toEqual(['process true', 'thread true']);
});
