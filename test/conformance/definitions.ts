/**
 * Workflow definitions started by name, caller-chosen ids (idempotent starts) and business keys:
 * the same on every backend. A start with the id of an existing workflow creates, removes and
 * changes nothing, and its handle follows that workflow; the same id with another name or key is
 * refused; keys are stored, listed and filtered by exactly.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, ValidationError, WorkFlow, WorkflowConflictError, defineWorkflow } from '../../src/index.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';

let runs = 0;
const counted = new StepHandler<unknown, number, number>({
  name: 'definitions-counted',
  handler(task) {
    runs += 1;
    return task.data * 2;
  },
});

const doubled = defineWorkflow(
  'definitions-doubled',
  (input: { values: number[] }) => WorkFlow.create('definitions-doubled').addStep({ step: counted, tasks: input.values }),
  { description: 'doubles each value' },
);
defineWorkflow('definitions-misnamed', () => WorkFlow.create('something-else').addStep({ step: counted, tasks: [1] }));

const results = (values: { steps: { tasks: { result: unknown }[] }[] }): unknown[] => values.steps[0]?.tasks.map((task) => task.result) ?? [];

export function definitions(t: Conformance): void {
  describe('definitions, idempotent ids and keys', () => {
    it('starts a definition by name, with its input, id and key', async () => {
      await t.register();
      const workflow = await DeFlow.start('definitions-doubled', { values: [1, 2, 3] }, { id: 'order-7-doubled', key: 'order-7' });
      expect(workflow).toMatchObject({ id: 'order-7-doubled', name: 'definitions-doubled', key: 'order-7', created: true, state: 'started' });
      const result = await workflow.done();
      expect(results(result)).toEqual([2, 4, 6]);
      const record = await workflow.refresh();
      expect(record).toMatchObject({ id: 'order-7-doubled', name: 'definitions-doubled', key: 'order-7', status: 'succeeded' });
      expect((await WorkFlow.getById('order-7-doubled'))?.key).toBe('order-7');
      // The definition's own start() is the same thing; without an id each start is a new workflow.
      const other = await doubled.start({ values: [5] });
      expect(other.id).not.toBe(workflow.id);
      expect(other.key).toBeNull();
      expect(results(await other.done())).toEqual([10]);
      expect(DeFlow.definitions()).toEqual(
        expect.arrayContaining([{ name: 'definitions-doubled', description: 'doubles each value' }, { name: 'definitions-misnamed' }]),
      );
    });

    it('creates nothing on a second start with the same id: the handle follows the first, running or finished', async () => {
      await t.register();
      runs = 0;
      // The second start begins once the first is stored: two starts in flight at once may be
      // stored in either order (PostgreSQL's pool; the race has a test of its own below).
      const first = await WorkFlow.create('definitions-once', { id: 'once-1', key: 'k-once' }).addStep({ step: counted, tasks: [1, 2] }).run().started();
      const again = await WorkFlow.create('definitions-once', { id: 'once-1', key: 'k-once' }).addStep({ step: counted, tasks: [7, 8, 9] }).run().started();
      expect(first.created).toBe(true);
      expect(again.created).toBe(false);
      // Both follow the one stored workflow: the first definition's tasks, run once.
      expect(results(await again.done())).toEqual([2, 4]);
      expect(results(await first.done())).toEqual([2, 4]);
      const late = await DeFlow.start('definitions-doubled', { values: [1] }, { id: 'once-2' });
      await late.done();
      const repeat = await DeFlow.start('definitions-doubled', { values: [100] }, { id: 'once-2' });
      expect(repeat.created).toBe(false);
      expect(results(await repeat.done())).toEqual([2]);
      expect(runs).toBe(3);
      expect((await WorkFlow.getByName('definitions-once')).map((w) => w.id)).toEqual(['once-1']);
      expect((await WorkFlow.getByName('definitions-doubled')).map((w) => w.id)).toEqual(['once-2']);
    });

    it('creates one workflow when many starts with one id race in one process', async () => {
      await t.register();
      runs = 0;
      const handles = await Promise.all(
        Array.from({ length: 8 }, (_, i) => DeFlow.start('definitions-doubled', { values: [i + 1] }, { id: 'raced', key: 'race-key' })),
      );
      expect(handles.filter((handle) => handle.created === true)).toHaveLength(1);
      expect(new Set(handles.map((handle) => handle.id))).toEqual(new Set(['raced']));
      const outcomes = await Promise.all(handles.map((handle) => handle.done()));
      expect(new Set(outcomes.map((outcome) => JSON.stringify(results(outcome)))).size).toBe(1);
      expect(runs).toBe(1);
      expect((await WorkFlow.getByName('definitions-doubled')).map((w) => w.id)).toEqual(['raced']);
      expect((await WorkFlow.getByKey('race-key')).map((w) => w.id)).toEqual(['raced']);
    });

    it('refuses the id of an existing workflow for another name or another key, and changes nothing', async () => {
      await t.register();
      await WorkFlow.create('definitions-owner', { id: 'taken', key: 'k1' }).addStep({ step: counted, tasks: [1] }).run().done();
      const byName = WorkFlow.create('definitions-intruder', { id: 'taken', key: 'k1' }).addStep({ step: counted, tasks: [1] }).run();
      await expect(byName.started()).rejects.toThrow(WorkflowConflictError);
      await expect(byName.done()).rejects.toThrow(/workflow id "taken" is taken by workflow "definitions-owner", not "definitions-intruder"/);
      expect(byName.state).toBe('failed');
      await expect(WorkFlow.create('definitions-owner', { id: 'taken', key: 'k2' }).addStep({ step: counted, tasks: [1] }).run().started()).rejects.toMatchObject({
        code: 'ERR_WORKFLOW_CONFLICT',
        existing: { id: 'taken', name: 'definitions-owner', key: 'k1' },
        message: expect.stringMatching(/with key "k1", not key "k2"/) as unknown,
      });
      await expect(WorkFlow.create('definitions-owner', { id: 'taken' }).addStep({ step: counted, tasks: [1] }).run().started()).rejects.toThrow(/not no key/);
      await expect(DeFlow.start('definitions-doubled', { values: [1] }, { id: 'taken', key: 'k1' })).rejects.toThrow(WorkflowConflictError);
      const stored = await WorkFlow.getById('taken');
      expect(stored).toMatchObject({ name: 'definitions-owner', key: 'k1', status: 'succeeded' });
      expect(await WorkFlow.getByName('definitions-intruder')).toEqual([]);
      expect((await WorkFlow.getByKey('k1')).map((w) => w.id)).toEqual(['taken']);
      expect(await WorkFlow.getByKey('k2')).toEqual([]);
    });

    it("an idempotent start with ifExist: 'replace' removes nothing", async () => {
      await t.register();
      const first = await WorkFlow.create('definitions-replaced', { id: 'rep-1' }).addStep({ step: counted, tasks: [1] }).run().done();
      const second = await WorkFlow.create('definitions-replaced', { id: 'rep-2', ifExist: 'replace' }).addStep({ step: counted, tasks: [1] }).run().done();
      expect(first.id).toBe('rep-1');
      expect((await WorkFlow.getByName('definitions-replaced')).map((w) => w.id)).toEqual([second.id]);
      const repeat = await WorkFlow.create('definitions-replaced', { id: 'rep-1', ifExist: 'replace' }).addStep({ step: counted, tasks: [1] }).run().started();
      // rep-1 is gone (replaced), so this start created it again, and replaced rep-2.
      expect(repeat.created).toBe(true);
      await repeat.done();
      expect((await WorkFlow.getByName('definitions-replaced')).map((w) => w.id)).toEqual(['rep-1']);
      const idempotent = await WorkFlow.create('definitions-replaced', { id: 'rep-1', ifExist: 'replace' }).addStep({ step: counted, tasks: [1] }).run().started();
      expect(idempotent.created).toBe(false);
      const third = await WorkFlow.create('definitions-replaced', { id: 'rep-3' }).addStep({ step: counted, tasks: [1] }).run().done();
      const again = await WorkFlow.create('definitions-replaced', { id: 'rep-1', ifExist: 'replace' }).addStep({ step: counted, tasks: [1] }).run().started();
      expect(again.created).toBe(false);
      // The repeat found rep-1 and left rep-3, started after it, alone.
      expect((await WorkFlow.getByName('definitions-replaced')).map((w) => w.id).sort()).toEqual(['rep-1', third.id].sort());
    });

    it('lists workflows by key exactly, newest first, filtered by status, and forgets removed ones', async () => {
      await t.register();
      const started: string[] = [];
      for (const [i, key] of ['order-1', 'order-10', 'order-1', 'order-1\n', 'order-1'].entries()) {
        const workflow = await WorkFlow.create(i === 4 ? 'definitions-other-name' : 'definitions-keyed', { key })
          .addStep({ step: counted, tasks: [i] })
          .run()
          .started();
        await workflow.done();
        started.push(workflow.id);
      }
      const [a, , c, , e] = started;
      expect((await WorkFlow.getByKey('order-1')).map((w) => w.id)).toEqual([e, c, a]);
      expect((await WorkFlow.getByKey('order-1')).map((w) => w.key)).toEqual(['order-1', 'order-1', 'order-1']);
      expect((await WorkFlow.getByKey('order-1', { limit: 2 })).map((w) => w.id)).toEqual([e, c]);
      expect((await WorkFlow.getByKey('order-1', { status: 'succeeded' })).map((w) => w.id)).toEqual([e, c, a]);
      expect(await WorkFlow.getByKey('order-1', { status: 'running' })).toEqual([]);
      expect(await WorkFlow.getByKey('order-')).toEqual([]);
      expect(await WorkFlow.getByKey('order-1\n\n')).toEqual([]);
      const { backend } = await DeFlow.getInstance().services();
      expect((await backend.listWorkflows({ key: 'order-1', name: 'definitions-keyed', limit: 10 })).map((w) => w.id)).toEqual([c, a]);
      const page = await backend.listWorkflows({ key: 'order-1', limit: 10, before: { createdAt: (await backend.getWorkflow(e ?? ''))?.createdAt ?? 0, id: e ?? '' } });
      expect(page.map((w) => w.id)).toEqual([c, a]);
      // A running one is found by key and status.
      const slow = new StepHandler<unknown, number, number>({ name: 'definitions-slow', handler: (task) => new Promise((resolve) => setTimeout(() => resolve(task.data), 300)) });
      const running = await WorkFlow.create('definitions-keyed', { key: 'order-1' }).addStep({ step: slow, tasks: [1] }).run().started();
      const unfinished = [...(await WorkFlow.getByKey('order-1', { status: 'running' })), ...(await WorkFlow.getByKey('order-1', { status: 'pending' }))];
      expect(unfinished.map((w) => w.id)).toEqual([running.id]);
      await running.done();
      for (const workflow of await WorkFlow.getByKey('order-1')) await workflow.clean();
      expect(await WorkFlow.getByKey('order-1')).toEqual([]);
      expect((await WorkFlow.getByKey('order-10')).map((w) => w.id)).toEqual([started[1]]);
    });

    it('retention forgets a keyed workflow in the listing by key', async () => {
      await t.register({ checkProcessQueueInterval: 0 });
      const kept = await WorkFlow.create('definitions-kept', { key: 'swept' }).addStep({ step: counted, tasks: [1] }).run().done();
      // Kept for no time: a backend may drop it as it finishes, before done() reads it.
      await WorkFlow.create('definitions-swept', { key: 'swept', retention: 0 })
        .addStep({ step: counted, tasks: [1] })
        .run()
        .done()
        .catch(() => undefined);
      const { backend } = await DeFlow.getInstance().services();
      await eventually(async () => {
        await backend.sweep(100);
        const ids = (await WorkFlow.getByKey('swept')).map((w) => w.id);
        return ids.length === 1 ? ids : undefined;
      });
      expect((await WorkFlow.getByKey('swept')).map((w) => w.id)).toEqual([kept.id]);
    });

    it('refuses a bad id or key, an unknown definition and a second definition of a name, saying what to do', async () => {
      await t.register();
      const long = 'x'.repeat(257);
      for (const option of ['id', 'key'] as const) {
        expect(() => WorkFlow.create('definitions-bad', { [option]: '' })).toThrow(ValidationError);
        expect(() => WorkFlow.create('definitions-bad', { [option]: '  ' })).toThrow(new RegExp(`options.${option} must be a non-empty string`));
        expect(() => WorkFlow.create('definitions-bad', { [option]: long })).toThrow(new RegExp(`options.${option} must be at most 256 characters long, got 257`));
        expect(() => WorkFlow.create('definitions-bad', { [option]: 'a\0b' })).toThrow(/must not contain a NUL/);
        expect(() => WorkFlow.create('definitions-bad', { [option]: 7 as unknown as string })).toThrow(/got 7/);
        await expect(DeFlow.start('definitions-doubled', { values: [1] }, { [option]: 'a\0b' })).rejects.toThrow(ValidationError);
        await expect(DeFlow.start('definitions-doubled', { values: [1] }, { [option]: long })).rejects.toThrow(/at most 256/);
      }
      expect(() => WorkFlow.create('definitions-ok', { id: 'x'.repeat(256), key: 'é'.repeat(256) })).not.toThrow();
      await expect(DeFlow.start('definitions-doubled', { values: [1] }, { idd: 'x' } as never)).rejects.toThrow(/unknown option "idd"/);
      await expect(WorkFlow.getByKey('')).rejects.toThrow(ValidationError);
      await expect(WorkFlow.getByKey('a\0')).rejects.toThrow(/getByKey\(\) key must not contain a NUL/);
      await expect(DeFlow.start('definitions-nope', {})).rejects.toThrow(
        /DeFlow.start\(\): no workflow definition named "definitions-nope" is loaded in this process; known definitions: .*"definitions-doubled", "definitions-misnamed"/,
      );
      await expect(DeFlow.start('definitions-misnamed', {})).rejects.toThrow(/created a workflow named "something-else".*WorkFlow.create\("definitions-misnamed"\)/);
      expect(() => defineWorkflow('definitions-doubled', () => WorkFlow.create('definitions-doubled'))).toThrow(
        /defineWorkflow\(\): a workflow named "definitions-doubled" is already defined \(at .*definitions.ts:\d+:\d+; again at .*\); give each definition a distinct name/,
      );
      expect(() => defineWorkflow('', () => WorkFlow.create('x'))).toThrow(ValidationError);
      expect(() => defineWorkflow('definitions-no-build', 'nope' as never)).toThrow(/must be a function \(input\) => WorkFlow/);
      // Nothing of the refused starts was stored.
      expect(await WorkFlow.getByName('definitions-bad')).toEqual([]);
      expect(await WorkFlow.getByName('something-else')).toEqual([]);
    });
  });
}
