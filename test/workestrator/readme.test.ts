// The usage Workestrator's README documents, run against deflow/workestrator unchanged.
import { expect, test } from 'vitest';
import workestrator, { create, kill, serializers, Serializer } from '../../src/workestrator/index.js';
import { checkLeaksAfterEach, fixture, track } from './helpers.js';

checkLeaksAfterEach();

const README_MODULE = fixture('readme.cjs');

test('the default export object carries the documented API', () => {
  expect(workestrator.create).toBe(create);
  expect(workestrator.kill).toBe(kill);
  expect(workestrator.serializers).toBe(serializers);
  expect(workestrator.Serializer).toBe(Serializer);
});

test('usage: run() calls the default function, runMethod() a named one', async () => {
  const farm = track(workestrator.create({ module: README_MODULE }));
  expect(await farm.run(1, 2, 3)).toBe(6);
  expect(await farm.runMethod('foo', 1, 2, 3)).toBe('bar:1:2:3');
  void farm.kill(); // the README does not await it
});

test('methods run with module.exports as `this`, as in Workestrator', async () => {
  const farm = track(create({ module: fixture('worker.cjs'), numberOfWorkers: 1 }));
  expect(await farm.runMethod('viaThis', 'self')).toBe('self');
  await farm.kill();
});

test('run(...args) and runMethod(method, ...args) pass any JSON arguments', async () => {
  const farm = track(create({ module: README_MODULE, numberOfWorkers: 1 }));
  expect(await farm.run(1, [], '')).toBe('1');
  expect(await farm.runMethod('bar', 1, [], '')).toEqual(['number', true, true]);
  await farm.kill();
});

test('broadcast() and broadcastMethod() run on every worker: [successes, failures]', async () => {
  const farm = track(create({ module: README_MODULE, numberOfWorkers: 2 }));
  const [successes, failures] = await farm.broadcast(1, [], '');
  expect(successes).toEqual(['1', '1']);
  expect(failures).toEqual([]);
  const [named, none] = await farm.broadcastMethod('foo', 1, [], '');
  expect(named).toEqual(['bar:1::', 'bar:1::']);
  expect(none).toEqual([]);
  const [nothing, errors] = await farm.broadcastMethod('missing');
  expect(nothing).toEqual([]);
  expect(errors).toHaveLength(2);
  for (const error of errors) expect(error.message).toMatch(/exports no function named 'missing'/);
  await farm.kill();
});

test('farm.kill() kills the farm; workestrator.kill() kills every farm', async () => {
  const one = track(create({ module: README_MODULE, numberOfWorkers: 1 }));
  const two = track(create({ module: README_MODULE, numberOfWorkers: 1 }));
  const three = track(create({ module: README_MODULE, numberOfWorkers: 1 }));
  expect(await one.run(1, 1, 1)).toBe(3);
  void one.kill(); // as the README calls it: without awaiting
  expect(one.killed).toBe(true);
  await workestrator.kill();
  expect([two.killed, three.killed]).toEqual([true, true]);
  expect([...one.workers, ...two.workers, ...three.workers]).toEqual([]);
  await expect(two.run(1, 2, 3)).rejects.toThrow(/the farm was killed/);
});
