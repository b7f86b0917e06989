/**
 * Events and signals (docs/concepts.md#events): a step with waitFor starts once its
 * dependencies are done and each event it waits for arrived; events are durable, count once
 * per workflow and id, and a waitTimeout fails the step with a TimeoutError.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, ValidationError, WorkFlow } from '../../src/index.js';
import type { WorkflowEvent, WorkflowResult } from '../../src/index.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';

/** Emits `task.data` as an event of its workflow from its handler, and twice more from its hooks. */
const emitter = new StepHandler<unknown, { name: string; data?: unknown }, string>({
  name: 'events-emitter',
  async handler(task, step) {
    await step.emit(task.data.name, task.data.data);
    return task.data.name;
  },
});
const hookEmitter = new StepHandler<unknown, string, string>({
  name: 'events-hook-emitter',
  async beforeAll(step) {
    await step.emit('from.before', { hook: 'before' });
  },
  handler: (task) => task.data,
  async afterAll(step) {
    await step.emit('from.after');
  },
});
/** Returns the events it waited for, as its handler saw them. */
const waiter = new StepHandler<unknown, string, { name: string; data: unknown }[]>({
  name: 'events-waiter',
  handler: (_task, step) => step.events.map((event) => ({ name: event.name, data: event.data })),
});
const label = new StepHandler<unknown, string, string>({ name: 'events-label', handler: (task) => task.data });

function step(result: WorkflowResult, name: string): WorkflowResult['steps'][number] {
  const found = result.steps.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no step ${name}`);
  return found;
}

/** Resolves once the step stored as `name` is held back only by its events. */
async function held(workflow: WorkFlow, name: string): Promise<void> {
  await eventually(async () => {
    const steps = await workflow.getSteps();
    const s = steps.find((x) => x.name === name);
    return s?.status === 'waiting' && (await waitingSince(workflow, s.id)) ? true : undefined;
  });
}

async function waitingSince(workflow: WorkFlow, stepId: string): Promise<boolean> {
  const { backend } = await DeFlow.getInstance().services();
  return (await backend.getStep(workflow.id, stepId))?.eventWait != null;
}

export function events(t: Conformance): void {
  describe('events', () => {
    it('starts a step once an event emitted by another step arrived (emit → waitFor), with step.events', async () => {
      await t.register();
      const workflow = WorkFlow.create('emit-wait')
        .addStep({ name: 'pay', step: emitter, tasks: [{ name: 'payment.settled', data: { amount: 42 } }], dependsOn: [] })
        .addStep({ name: 'ship', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['payment.settled'] })
        .run();
      const result = await workflow.done();
      expect(step(result, 'ship').tasks[0]?.result).toEqual([{ name: 'payment.settled', data: { amount: 42 } }]);
      const received = await workflow.getEvents();
      expect(received.map((e) => [e.name, e.data])).toEqual([['payment.settled', { amount: 42 }]]);
      expect(received[0]?.id).toMatch(/^emit:/);
    });

    it('a signal from a handle starts the waiting step, and beside dependsOn both must be done', async () => {
      await t.register();
      const workflow = WorkFlow.create('signal-wait')
        .addStep({ name: 'first', step: label, tasks: ['a'] })
        .addStep({ name: 'approved', step: waiter, tasks: ['x'], waitFor: ['approval'] })
        .run();
      await held(workflow, 'approved');
      expect((await workflow.refresh()).status).toBe('running');
      expect(await workflow.signal('approval', { by: 'ann' })).toBe(true);
      const result = await workflow.done();
      expect(step(result, 'approved').tasks[0]?.result).toEqual([{ name: 'approval', data: { by: 'ann' } }]);
    });

    it('keeps an event that arrived before the step waited for it (durable)', async () => {
      await t.register();
      const gate = new Gate();
      const workflow = WorkFlow.create('early-event')
        .addStep({ name: 'slow', step: gated(gate), tasks: ['a'] })
        .addStep({ name: 'late', step: waiter, tasks: ['x'], waitFor: ['early'] })
        .run();
      await workflow.started();
      expect(await DeFlow.signal(workflow.id, 'early', 7)).toBe(true);
      gate.open();
      const result = await workflow.done();
      expect(step(result, 'late').tasks[0]?.result).toEqual([{ name: 'early', data: 7 }]);
    });

    it('joins on events with dependsOn: [] (parallel tasks each emit, a join step waits for all)', async () => {
      await t.register();
      const workflow = WorkFlow.create('pubsub')
        .addStep({ name: 'fork', step: label, tasks: ['go'] })
        .addStep({ name: 'a', step: emitter, tasks: [{ name: 'a.done', data: 1 }], dependsOn: ['fork'] })
        .addStep({ name: 'b', step: emitter, tasks: [{ name: 'b.done', data: 2 }], dependsOn: ['fork'] })
        .addStep({ name: 'c', step: emitter, tasks: [{ name: 'c.done', data: 3 }], dependsOn: ['fork'] })
        .addStep({ name: 'join', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['c.done', 'a.done', 'b.done'] })
        .run();
      const result = await workflow.done();
      expect(step(result, 'join').tasks[0]?.result).toEqual([
        { name: 'c.done', data: 3 },
        { name: 'a.done', data: 1 },
        { name: 'b.done', data: 2 },
      ]);
      expect(result.status).toBe('succeeded');
    });

    it('fails a step whose waitTimeout ran out with a TimeoutError, and its failure branch runs', async () => {
      await t.register();
      const workflow = WorkFlow.create('wait-timeout')
        .addStep({ name: 'wait', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['never', 'also.never'], waitTimeout: 300 })
        .addStep({ name: 'on-timeout', step: label, tasks: ['handled'], dependsOn: ['wait'], when: 'failure' })
        .run();
      const result = await workflow.done();
      expect(result.status).toBe('succeeded');
      expect(step(result, 'on-timeout').status).toBe('succeeded');
      const failed = step(result, 'wait');
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatchObject({ name: 'TimeoutError', code: 'ERR_TIMEOUT', reason: 'wait-for-events', waitFor: ['never', 'also.never'], waitTimeout: 300 });
      expect(failed.error?.message).toMatch(/step "wait" waited 300 ms \(waitTimeout\) for the events "never", "also.never"/);
    });

    it('counts an event with an id once, however often it is delivered', async () => {
      await t.register();
      const counter = new StepHandler<unknown, string, number>({ name: 'events-count', handler: (_t, s) => s.events.length });
      const workflow = WorkFlow.create('dup-id')
        .addStep({ name: 'hold', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['go'] })
        .addStep({ name: 'count', step: counter, tasks: ['x'], dependsOn: [], waitFor: ['tick'] })
        .run();
      await workflow.started();
      expect(await workflow.signal('tick', 1, { id: 'webhook-1' })).toBe(true);
      expect(await workflow.signal('tick', 2, { id: 'webhook-1' })).toBe(false);
      expect(await DeFlow.signal(workflow.id, 'tick', 3, { id: 'webhook-1' })).toBe(false);
      await workflow.signal('go');
      await workflow.done();
      const ticks = (await workflow.getEvents()).filter((e) => e.name === 'tick');
      expect(ticks.map((e) => [e.id, e.data])).toEqual([['webhook-1', 1]]);
    });

    it('counts the events of a hook once each, and from every lifecycle method', async () => {
      await t.register();
      const workflow = WorkFlow.create('hook-events')
        .addStep({ name: 'hooks', step: hookEmitter, tasks: ['x'] })
        .addStep({ name: 'after', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['from.before', 'from.after'] })
        .run();
      const result = await workflow.done();
      expect(step(result, 'after').tasks[0]?.result).toEqual([
        { name: 'from.before', data: { hook: 'before' } },
        { name: 'from.after', data: null },
      ]);
    });

    it('counts an event emitted by an attempt that is run again once (its id is derived from the job)', async () => {
      await t.register();
      const flaky = new StepHandler<unknown, string, string>({
        name: 'events-flaky-emitter',
        options: { taskMaxFailCount: 3 },
        async handler(task, step) {
          await step.emit('attempted', { attempt: task.failedCount + 1 });
          if (task.failedCount < 2) throw new Error('fails after emitting');
          return task.data;
        },
      });
      const workflow = WorkFlow.create('rerun-emit')
        .addStep({ name: 'flaky', step: flaky, tasks: ['x'] })
        .addStep({ name: 'after', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['attempted'] })
        .run();
      const result = await workflow.done();
      expect(step(result, 'flaky').tasks[0]?.failedCount).toBe(2);
      const attempted = (await workflow.getEvents()).filter((e) => e.name === 'attempted');
      expect(attempted.map((e) => e.data)).toEqual([{ attempt: 1 }]);
    });

    it('delivers a global event to every running workflow, not to finished ones', async () => {
      await t.register();
      const done = await WorkFlow.create('global-finished').addStep({ step: label, tasks: ['x'] }).run().done();
      const one = WorkFlow.create('global-1').addStep({ name: 'w', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['deploy'] }).run();
      const two = WorkFlow.create('global-2').addStep({ name: 'w', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['deploy'] }).run();
      await Promise.all([one.started(), two.started()]);
      expect(await DeFlow.emit('deploy', { v: 2 }, { id: 'deploy-2' })).toBe(2);
      expect(await DeFlow.emit('deploy', { v: 2 }, { id: 'deploy-2' })).toBe(0); // same id: counted already
      for (const workflow of [one, two]) {
        expect(step(await workflow.done(), 'w').tasks[0]?.result).toEqual([{ name: 'deploy', data: { v: 2 } }]);
      }
      const { backend } = await DeFlow.getInstance().services();
      expect(await backend.getEvents(done.id)).toEqual([]);
      expect(await DeFlow.signal(done.id, 'late')).toBe(false);
      await expect(DeFlow.signal('no-such-workflow', 'x')).rejects.toThrow(/workflow no-such-workflow does not exist/);
    });

    it("reports each received event on the handle's 'event', once", async () => {
      await t.register();
      const seen: WorkflowEvent[] = [];
      const workflow = WorkFlow.create('handle-event').addStep({ name: 'w', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['a', 'b'] });
      workflow.on('event', (event) => seen.push(event));
      workflow.run();
      await workflow.started();
      await workflow.signal('a', 1, { id: 'e1' });
      await workflow.signal('a', 1, { id: 'e1' });
      await workflow.signal('b', 2);
      await workflow.done();
      await eventually(() => (seen.length >= 2 ? true : undefined));
      expect(seen.map((e) => [e.name, e.data])).toEqual([['a', 1], ['b', 2]]);
      expect(seen[0]?.id).toBe('e1');
      expect(typeof seen[0]?.at).toBe('number');
    });

    it('refuses bad waitFor, waitTimeout, event names and data at the call', async () => {
      await t.register();
      const add = (params: Record<string, unknown>): unknown => WorkFlow.create('bad').addStep({ step: label, ...params });
      expect(() => add({ waitFor: 'payment' })).toThrow(/waitFor must be an array of event names/);
      expect(() => add({ waitFor: [''] })).toThrow(/waitFor\[0\]: event name must be a non-empty string/);
      expect(() => add({ waitFor: ['a\0b'] })).toThrow(/waitFor\[0\]: event name must not contain a NUL/);
      expect(() => add({ waitFor: ['x'.repeat(300)] })).toThrow(/at most 256 characters/);
      expect(() => add({ waitFor: ['a'], waitTimeout: -1 })).toThrow(ValidationError);
      expect(() => add({ waitTimeout: 10 })).toThrow(/waitTimeout needs waitFor/);
      const workflow = await WorkFlow.create('bad-signal').addStep({ step: waiter, tasks: ['x'], waitFor: ['a'] }).run().started();
      await expect(workflow.signal('')).rejects.toThrow(/event name must be a non-empty string/);
      await expect(workflow.signal('a', () => 1)).rejects.toThrow(/event data/);
      await expect(workflow.signal('a', 'x'.repeat(2_000_000))).rejects.toThrow(/event data/);
      await expect(workflow.signal('a', 1, { id: '' })).rejects.toThrow(/id must be a non-empty string/);
      await expect(DeFlow.emit('a\0')).rejects.toThrow(/must not contain a NUL/);
    });

    it('delivers a global event with a key only to the running workflows with that business key', async () => {
      await t.register();
      const wait = (key: string): WorkFlow =>
        WorkFlow.create('parcel', { key }).addStep({ name: 'w', step: waiter, tasks: ['x'], dependsOn: [], waitFor: ['package.delivered'] }).run();
      // A finished workflow with the routed key is not a target.
      const finished = await WorkFlow.create('parcel-done', { key: 'order-42' }).addStep({ step: label, tasks: ['x'] }).run().done();
      const workflows = Array.from({ length: 100 }, (_, i) => wait(`order-${i}`));
      await Promise.all(workflows.map((workflow) => workflow.started()));
      const target = workflows[42];
      if (target === undefined) throw new Error('no workflow 42');

      expect(await DeFlow.emit('package.delivered', { by: 'van' }, { key: 'order-42', id: 'delivery-42' })).toBe(1);
      expect(step(await target.done(), 'w').tasks[0]?.result).toEqual([{ name: 'package.delivered', data: { by: 'van' } }]);
      expect(await DeFlow.emit('package.delivered', { by: 'van' }, { key: 'order-42', id: 'delivery-42' })).toBe(0); // same id, and finished
      expect(await DeFlow.emit('package.delivered', null, { key: 'no-such-order' })).toBe(0);

      const { backend } = await DeFlow.getInstance().services();
      expect(await backend.getEvents(finished.id)).toEqual([]);
      const others = workflows.filter((workflow) => workflow !== target);
      const received = await Promise.all(others.map((workflow) => backend.getEvents(workflow.id)));
      expect(received.every((list) => list.length === 0)).toBe(true);
      const statuses = new Set(await Promise.all(others.map(async (workflow) => (await workflow.refresh()).status)));
      expect([...statuses].filter((status) => status !== 'pending' && status !== 'running')).toEqual([]); // still waiting

      // An event id counts once per workflow: the same id routed to another key still counts there.
      expect(await DeFlow.emit('package.delivered', null, { key: 'order-7', id: 'delivery-42' })).toBe(1);
      await others[7]?.done();
    });

    it('refuses a blank, too long or NUL key of a global event at the call', async () => {
      await t.register();
      await expect(DeFlow.emit('a', null, { key: '  ' })).rejects.toThrow(ValidationError);
      await expect(DeFlow.emit('a', null, { key: '  ' })).rejects.toThrow(/DeFlow.emit\(\) options: key must be a non-empty string/);
      await expect(DeFlow.emit('a', null, { key: 'k'.repeat(257) })).rejects.toThrow(/at most 256 characters/);
      await expect(DeFlow.emit('a', null, { key: 'a\0b' })).rejects.toThrow(/must not contain a NUL/);
      await expect(DeFlow.emit('a', null, { key: 42 } as never)).rejects.toThrow(ValidationError);
      await expect(DeFlow.emit('a', null, { keys: 'x' } as never)).rejects.toThrow(ValidationError);
    });
  });
}

/** A promise a test opens when it wants. */
class Gate {
  readonly promise: Promise<void>;
  open!: () => void;
  constructor() {
    this.promise = new Promise((resolve) => {
      this.open = resolve;
    });
  }
}

let gates = 0;
function gated(gate: Gate): StepHandler<unknown, string, string> {
  return new StepHandler<unknown, string, string>({
    name: `events-gated-${gates++}`,
    async handler(task) {
      await gate.promise;
      return task.data;
    },
  });
}
