/**
 * Fair sharing (step options globalConcurrency, concurrencyKey + keyConcurrency) and full lanes:
 * handlers count their attempts in flight, and the observed maximum never exceeds the limit and
 * does reach it. Bad limits are refused at addStep; a task without its key fails on its own.
 */
import { describe, expect, it } from 'vitest';
import { StepHandler, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { Conformance } from './context.js';

interface Keyed {
  customer?: { id?: unknown };
  n: number;
  ms: number;
}

/** Attempts in flight, overall and per key, with the highest counts seen. */
class InFlight {
  now = 0;
  max = 0;
  readonly perKey = new Map<string, number>();
  readonly maxPerKey = new Map<string, number>();
  readonly starts: number[] = [];
  readonly ends: number[] = [];

  async run(key: string, ms: number): Promise<void> {
    this.starts.push(performance.now());
    this.now++;
    this.max = Math.max(this.max, this.now);
    const inKey = (this.perKey.get(key) ?? 0) + 1;
    this.perKey.set(key, inKey);
    this.maxPerKey.set(key, Math.max(this.maxPerKey.get(key) ?? 0, inKey));
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.perKey.set(key, (this.perKey.get(key) ?? 1) - 1);
    this.now--;
    this.ends.push(performance.now());
  }
}

let counter = new InFlight();
const limited = new StepHandler<unknown, Keyed, number>({
  name: 'limits-counted',
  async handler(task) {
    await counter.run(JSON.stringify(task.data.customer?.id ?? '-'), task.data.ms);
    return task.data.n;
  },
});

function tasks(count: number, ms: number, key: (i: number) => unknown = () => undefined): Keyed[] {
  return Array.from({ length: count }, (_, n) => ({ n, ms, customer: { id: key(n) } }));
}

export function concurrencyLimits(t: Conformance): void {
  // A backend that refuses keyConcurrency (Redis Cluster) says why in the skipped test's title.
  const refused = t.backend.refuses?.keyConcurrency;
  const keyed = (title: string, test: () => Promise<void>): void => {
    if (refused === undefined) it(title, test);
    else it.skip(`${title} (skipped: ${refused})`, test);
  };
  describe('Concurrency limits and lanes', () => {
    it('keeps every lane busy: a freed lane is refilled at once, not when its batch is done', async () => {
      counter = new InFlight();
      await t.register();
      // Lanes free up at different times: a lane that waited for the others would start its
      // next task at least SHORT ms late.
      const SHORT = 300;
      const data = tasks(9, 0).map((task, i) => ({ ...task, ms: SHORT * (1 + (i % 3)) }));
      await WorkFlow.create('lanes').addStep({ step: limited, tasks: data, options: { taskConcurrency: 3 } }).run().done();
      expect(counter.max).toBe(3);
      const starts = [...counter.starts].sort((a, b) => a - b);
      const ends = [...counter.ends].sort((a, b) => a - b);
      // The k-th start after the first three follows the k-th end closely (generous: a loaded machine).
      starts.slice(3).forEach((start, k) => {
        expect(start).toBeGreaterThanOrEqual((ends[k] ?? Infinity) - 1);
        expect(start - (ends[k] ?? 0)).toBeLessThan((SHORT * 2) / 3);
      });
    });

    it('globalConcurrency caps the attempts of a step in flight, and is reached', async () => {
      counter = new InFlight();
      await t.register();
      const result = await WorkFlow.create('global')
        .addStep({ step: limited, tasks: tasks(12, 100), options: { taskConcurrency: 5, globalConcurrency: 2 } })
        .run()
        .done();
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual(tasks(12, 100).map((task) => task.n));
      expect(counter.max).toBe(2);
    });

    keyed('keyConcurrency caps attempts in flight per key value, across workflows, while other keys run', async () => {
      counter = new InFlight();
      await t.register();
      const options = { taskConcurrency: 6, concurrencyKey: 'customer.id', keyConcurrency: 2 };
      // Two workflows share customer "a"; "b" and 7 (a number) are keys of their own.
      const one = WorkFlow.create('keys-1').addStep({ step: limited, tasks: tasks(8, 80, (i) => (i % 2 === 0 ? 'a' : 'b')), options }).run();
      const two = WorkFlow.create('keys-2').addStep({ step: limited, tasks: tasks(8, 80, (i) => (i % 2 === 0 ? 'a' : 7)), options }).run();
      await Promise.all([one.done(), two.done()]);
      expect(counter.maxPerKey.get('"a"')).toBe(2);
      expect(counter.maxPerKey.get('"b"')).toBe(2);
      expect(counter.maxPerKey.get('7')).toBe(2);
      expect(counter.max).toBeGreaterThan(2); // other keys ran meanwhile
    });

    keyed('fails a task whose data lacks the key with a ValidationError naming the path and the task; the others run', async () => {
      counter = new InFlight();
      await t.register();
      const data: Keyed[] = [
        { n: 0, ms: 1, customer: { id: 'a' } },
        { n: 1, ms: 1 },
        { n: 2, ms: 1, customer: { id: { nested: true } } },
        { n: 3, ms: 1, customer: { id: 'a' } },
      ];
      const failure = await WorkFlow.create('no-key')
        .addStep({ name: 'keyed', step: limited, tasks: data, options: { concurrencyKey: 'customer.id', keyConcurrency: 1, taskMaxFailCount: 3 } })
        .run()
        .done()
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const recorded = (failure as WorkflowFailedError).result.steps[0]?.tasks ?? [];
      expect(recorded.map((task) => [task.status, task.failedCount])).toEqual([
        ['succeeded', 0],
        ['failed', 1],
        ['failed', 1],
        ['succeeded', 0],
      ]);
      expect(recorded[1]?.error).toMatchObject({ code: 'ERR_VALIDATION' });
      expect(recorded[1]?.error?.message).toMatch(/task 2 of step "keyed" has no concurrency key.*"customer\.id", found nothing there/);
      expect(recorded[2]?.error?.message).toMatch(/task 3 of step "keyed" has no concurrency key.*found a object/);
      expect(counter.starts).toHaveLength(2);
    });

    keyed('applies the key to tasks added by addTasks', async () => {
      counter = new InFlight();
      await t.register();
      const adder = new StepHandler<unknown, Keyed, number>({
        name: 'limits-adder',
        async beforeAll(step) {
          await step.addTasks(tasks(6, 60, () => 'shared'));
        },
        async handler(task) {
          await counter.run(JSON.stringify(task.data.customer?.id), task.data.ms);
          return task.data.n;
        },
      });
      await WorkFlow.create('added').addStep({ step: adder, options: { taskConcurrency: 4, concurrencyKey: 'customer.id', keyConcurrency: 1 } }).run().done();
      expect(counter.maxPerKey.get('"shared"')).toBe(1);
      expect(counter.starts).toHaveLength(6);
    });
  });
}
