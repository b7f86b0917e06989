/**
 * Names are stored and compared exactly on every backend: control characters round-trip, and
 * NUL, which PostgreSQL cannot store and which could cut a name short elsewhere, is refused at
 * the API, so "a\0b" can never be taken for "a".
 */
import { describe, expect, it } from 'vitest';
import { StepHandler, ValidationError, WorkFlow } from '../../src/index.js';
import type { Conformance } from './context.js';

const named = new StepHandler<unknown, string, string>({ name: 'names-echo', handler: (task) => task.data });

export function names(t: Conformance): void {
  describe('names', () => {
    it('stores a name with control characters exactly, and finds it by that name only', async () => {
      await t.register();
      const name = 'ctl\x1b[2J\n\t\r\x7f\u0085\u202e-wf';
      const stepName = 'step\x1b]0;title\x07\x00'.replace('\x00', '\\0'); // a backslash and a zero, not a NUL
      const workflow = WorkFlow.create(name).addStep({ name: stepName, step: named, tasks: ['x'] }).run();
      const result = await workflow.done();
      expect(result.name).toBe(name);
      expect(result.steps.map((s) => s.name)).toEqual([stepName]);
      const found = await WorkFlow.getByName(name);
      expect(found.map((w) => [w.id, w.name])).toEqual([[workflow.id, name]]);
      expect((await WorkFlow.getById(workflow.id))?.name).toBe(name);
      for (const near of ['ctl', 'ctl\x1b[2J', name.slice(0, -1), `${name}\n`, 'ctl\\x1b[2J\\n\\t\\r\\x7f\\x85\\u202e-wf']) {
        expect(await WorkFlow.getByName(near)).toEqual([]);
      }
    });

    it('refuses a NUL in every name, so "a\\0b" never matches "a"', async () => {
      await t.register();
      const a = await WorkFlow.create('a').addStep({ step: named, tasks: ['x'] }).run().started();
      expect(() => WorkFlow.create('a\0b')).toThrow(ValidationError);
      expect(() => WorkFlow.create('a\0b')).toThrow(/WorkFlow.create\(\) name must not contain a NUL character .*got "a\\u0000b"/);
      expect(() => WorkFlow.create('a\0')).toThrow(/must not contain a NUL/);
      expect(() => WorkFlow.create('ok').addStep({ name: 'a\0b', step: named })).toThrow(/addStep.*name must not contain a NUL/);
      expect(() => WorkFlow.create('ok').addStep({ step: named, dependsOn: ['a\0'] })).toThrow(/dependsOn\[0\] must not contain a NUL/);
      expect(() => new StepHandler({ name: 'names\0nul', handler: () => 1 })).toThrow(/name must not contain a NUL/);
      await expect(WorkFlow.getByName('a\0b')).rejects.toThrow(/getByName\(\) name must not contain a NUL/);
      await expect(WorkFlow.getById(`${a.id}\0`)).rejects.toThrow(/getById\(\) id must not contain a NUL/);
      expect((await WorkFlow.getByName('a')).map((w) => w.id)).toEqual([a.id]);
    });
  });
}
