/**
 * Named queues (docs/concepts.md#queues, the claim rule of docs/backends/step-machine.md): a
 * step's jobs go to its queue (`'default'` when it names none), and a node finds, claims and
 * adopts only the steps of the queues it serves, through an index by queue, so another
 * queue's backlog never stands in its way. A step may be named by its handler's name alone.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, ValidationError, WorkFlow } from '../../src/index.js';
import type { Backend } from '../../src/backends/backend.js';
import type { Conformance } from './context.js';

/** Which registration ran which step: `<queues of this process>:<step name>`. */
const ran: string[] = [];
let servedHere = '';
const queued = new StepHandler<unknown, number, number>({
  name: 'queues-echo',
  handler(task, step) {
    ran.push(`${servedHere}:${step.name}`);
    return task.data;
  },
});

async function backendOf(): Promise<Backend> {
  return (await DeFlow.getInstance().services()).backend;
}

/** A one-step workflow stored by a process that runs nothing; returns its id. */
async function stored(name: string, queue?: string): Promise<string> {
  const options = queue === undefined ? {} : { queue };
  const workflow = WorkFlow.create(name).addStep({ step: queued, tasks: [1, 2], options }).run();
  await workflow.started();
  return workflow.id;
}

export function queues(t: Conformance): void {
  describe('queues', () => {
    it("lists only the served queues' steps, even behind more runnable steps of another queue than one round reads", async () => {
      await t.register({ worker: false });
      const backlog: string[] = [];
      for (let i = 0; i < 120; i++) backlog.push(await stored(`backlog-${i}`));
      const billing = await stored('billing', 'billing');
      // A fresh registration: nothing remembered of the workflows this one created.
      await DeFlow.unregister();
      await t.register({ worker: false });
      const backend = await backendOf();
      const mine = await backend.runnableSteps(100, ['billing']);
      expect(mine.steps.map((step) => step.workflowId)).toEqual([billing]);
      expect(mine.steps[0]?.options.queue).toBe('billing');
      // A backend may answer with part of the runnable steps (Redis: those it saw work appear in first).
      const defaults = (await backend.runnableSteps(200, ['default'])).steps.map((step) => step.workflowId);
      expect(defaults.length).toBeGreaterThan(0);
      expect(defaults.every((id) => backlog.includes(id))).toBe(true);
      const both = (await backend.runnableSteps(200, ['billing', 'default'])).steps.map((step) => step.workflowId);
      expect(both.every((id) => id === billing || backlog.includes(id))).toBe(true);
    });

    it('runs each step on a node serving its queue, and a step on an unserved queue waits', async () => {
      await t.register({ worker: false });
      const workflow = WorkFlow.create('two-queues')
        .addStep({ step: queued, name: 'charge', tasks: [1], options: { queue: 'billing' } })
        .addStep({ step: queued, name: 'ship', tasks: [2] });
      const id = (await workflow.run().started(), workflow.id);
      await DeFlow.unregister();
      ran.length = 0;
      servedHere = 'billing';
      await t.register({ queues: ['billing'] });
      const backend = await backendOf();
      // The billing node runs charge; ship (default queue) then waits for a node serving it.
      for (;;) {
        const steps = await backend.getSteps(id);
        if (steps[0]?.status === 'succeeded' && steps[1]?.status === 'running') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect((await backend.runnableSteps(10, ['billing'])).steps).toEqual([]);
      expect((await backend.runnableSteps(10, ['default'])).steps.map((step) => step.name)).toEqual(['ship']);
      expect((await backend.listNodes()).map((node) => node.queues)).toEqual([['billing']]);
      await DeFlow.unregister();
      servedHere = 'default';
      await t.register();
      await (await WorkFlow.getById(id))?.done();
      expect(ran).toEqual(['billing:charge', 'default:ship']);
    });

    it('counts ready and leased jobs by queue', async () => {
      await t.register({ worker: false });
      const backend = await backendOf();
      if (backend.queueCounts === undefined) return; // optional: not every backend counts them
      await stored('counted');
      const billing = await stored('counted-billing', 'billing');
      await stored('counted-billing-2', 'billing');
      const counts = await backend.queueCounts();
      expect(counts.sort((a, b) => a.queue.localeCompare(b.queue))).toEqual([
        { queue: 'billing', ready: 4, leased: 0 },
        { queue: 'default', ready: 2, leased: 0 },
      ]);
      // A task leased to a node moves from ready to leased.
      await backend.registerNode({ id: 'counter', host: 'test', pid: 1, handlers: [], queues: ['billing'], leaseMs: 60_000 });
      const stepId = (await backend.getSteps(billing))[0]?.id ?? '';
      expect((await backend.claim({ nodeId: 'counter', workflowId: billing, stepId, limit: 1 })).jobs).toHaveLength(1);
      const after = await backend.queueCounts();
      expect(after.find((count) => count.queue === 'billing')).toEqual({ queue: 'billing', ready: 3, leased: 1 });
    });

    it('runs a step named by its handler name, with no code in the creating process needed', async () => {
      await t.register({ queues: ['default', 'billing'] });
      servedHere = 'both';
      ran.length = 0;
      await WorkFlow.create('by-name')
        .addStep({ step: 'queues-echo', name: 'named', tasks: [7], options: { queue: 'billing' } })
        .run()
        .done();
      expect(ran).toEqual(['both:named']);
      // A name this process has no handler for is stored as a reference to it.
      const unknown = WorkFlow.create('elsewhere').addStep({ step: 'charge-card-elsewhere', tasks: [1], options: { queue: 'elsewhere' } }).run();
      await unknown.started();
      const [step] = await (await backendOf()).getSteps(unknown.id);
      expect(step?.handler.key).toBe('charge-card-elsewhere');
      expect(step?.options.queue).toBe('elsewhere');
    });

    it('refuses bad queue names, naming the option', () => {
      for (const bad of ['', 'a\u0001b', 'x'.repeat(101), 'a,b', 3]) {
        expect(() => WorkFlow.create('w').addStep({ step: queued, options: { queue: bad as string } })).toThrow(ValidationError);
        expect(() => WorkFlow.create('w').addStep({ step: queued, options: { queue: bad as string } })).toThrow(/options\.queue/);
      }
      expect(() => WorkFlow.create('w', { queue: '' })).toThrow(/WorkFlow.create options.queue/);
      expect(() => DeFlow.register({ ...t.options(), queues: [] })).toThrow(/DeFlow.register options.queues must be a non-empty array/);
      expect(() => DeFlow.register({ ...t.options(), queues: ['ok', 'bad\n'] })).toThrow(/DeFlow.register options.queues\[1\]/);
    });
  });
}
