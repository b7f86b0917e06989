// serializerPath: Workestrator's JSON (the default) and CBOR serializers, and custom ones built on
// the Serializer class, as the README shows.
import { expect, test } from 'vitest';
import { serializers, Serializer } from '../../src/workestrator/index.js';
import CborSerializer from '../../src/workestrator/serializers/cbor.js';
import JsonSerializer from '../../src/workestrator/serializers/json.js';
import { checkLeaksAfterEach, fixture, makeFarm } from './helpers.js';

checkLeaksAfterEach();

test('serializers.JSON and serializers.CBOR are absolute paths of modules exporting Serializer classes', async () => {
  for (const path of [serializers.JSON, serializers.CBOR]) {
    expect(path).toMatch(/^\//);
    const { default: Class } = (await import(path)) as { default: new () => Serializer };
    expect(new Class()).toBeInstanceOf(Serializer);
  }
});

test('JSON (the default): basic types; a Date arrives as its ISO string, -0 as 0', async () => {
  const farm = makeFarm();
  const value = { flag: true, count: 3.5, text: 'é', list: [1, 'two', null], nested: { deep: [{}] } };
  expect(await farm.runMethod('echo', value)).toEqual(value);
  expect(await farm.runMethod('echo', new Date(0))).toBe('1970-01-01T00:00:00.000Z');
  expect(Object.is(await farm.runMethod('echo', -0), 0)).toBe(true);
  await farm.kill();
  const explicit = makeFarm({ serializerPath: serializers.JSON });
  expect(explicit.options.serializerPath).toBe(serializers.JSON);
  expect(explicit.options.serializer).toBe('json'); // deflow's built-in, the channel's own JSON
  expect(await explicit.runMethod('echo', value)).toEqual(value);
  await explicit.kill();
});

test('CBOR: -0, NaN, ±Infinity, Set (as an array), Map, null, undefined, Buffer, Date, RegExp, URL, BigInt', async () => {
  const farm = makeFarm({ serializerPath: serializers.CBOR });
  expect(farm.options.serializerPath).toBe(serializers.CBOR);
  const value = {
    numbers: [-0, NaN, Infinity, -Infinity, 1.5, -7],
    set: new Set([1, 'a']),
    map: new Map<unknown, unknown>([[1, 'one'], ['two', new Set([2])]]),
    nothing: null,
    missing: undefined,
    buffer: Buffer.from('bytes'),
    when: new Date(1234),
    pattern: /ab+c/gi,
    url: new URL('https://example.com/path?q=1'),
    big: 12345678901234567890n,
  };
  const back = (await farm.runMethod('echo', value)) as typeof value & { set: unknown[] };
  expect(Object.is(back.numbers[0], -0)).toBe(true);
  expect(back.numbers.slice(1)).toEqual([NaN, Infinity, -Infinity, 1.5, -7]);
  expect(back.set).toEqual([1, 'a']);
  expect(back.map).toEqual(new Map<unknown, unknown>([[1, 'one'], ['two', [2]]]));
  expect(back.nothing).toBeNull();
  expect('missing' in back && back.missing === undefined).toBe(true);
  expect(Buffer.isBuffer(back.buffer) && back.buffer.toString()).toBe('bytes');
  expect(back.when).toEqual(new Date(1234));
  expect(back.pattern).toEqual(/ab+c/gi);
  expect(back.url).toBeInstanceOf(URL);
  expect(back.url.href).toBe('https://example.com/path?q=1');
  expect(back.big).toBe(12345678901234567890n);
  expect(await farm.runMethod('echo', [-0])).toEqual([-0]);
  expect(await farm.run(1, 2, 3)).toBe(6);
  await farm.kill();
});

test('the CBOR class: values with nothing to fix are encoded as cbor-x encodes them; cycles are refused', () => {
  const cbor = new CborSerializer();
  const plain = { a: [1, 'x'], b: new Date(3) };
  expect(cbor.decode(cbor.encode(plain))).toEqual(plain);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  expect(() => cbor.encode(cyclic)).toThrow('CBOR cannot encode a circular structure');
  const json = new JsonSerializer();
  expect(json.decode(json.encode({ a: 1 }))).toEqual({ a: 1 });
});

test('a custom serializer extending Serializer (the README example) is used by the farm and the workers', async () => {
  const farm = makeFarm({ serializerPath: fixture('date-serializer.ts') });
  expect(farm.options.serializerPath).toBe(fixture('date-serializer.ts'));
  // Plain JSON would turn the Date into a string: this one keeps it, both ways.
  expect(await farm.runMethod('echo', { when: new Date(42) })).toEqual({ when: new Date(42) });
  await farm.kill();
});

test("a custom serializer whose encode returns the data itself (Workestrator's JSON serializer's shape)", async () => {
  const farm = makeFarm({ serializerPath: fixture('identity-serializer.ts') });
  expect(await farm.runMethod('echo', { list: [1, 2], text: 'x' })).toEqual({ list: [1, 2], text: 'x' });
  await farm.kill();
});
