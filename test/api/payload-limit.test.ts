/**
 * The payload limit (`DeFlow.register({ maxPayloadBytes })`, 1 MiB by default): a payload over
 * it is refused at the call that gave it, naming which payload, its size, the limit and how to
 * raise it; a result over it fails the attempt and is not stored. The check is the api's, the
 * same on every backend, so it runs on SQLite.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, ValidationError, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import { inflateIsolated } from '../fixtures/payload-steps.js';
import { useConformance } from '../conformance/context.js';
import { sqliteUnderTest } from '../helpers/backends.js';

const MiB = 1024 * 1024;
const echo = new StepHandler<unknown, unknown, unknown>({ name: 'payload-echo', handler: (task) => task.data });
const inflate = new StepHandler<unknown, number, string>({ name: 'payload-inflate', handler: (task) => 'x'.repeat(task.data) });

describe('payload limit', () => {
  const t = useConformance(sqliteUnderTest());

  it('refuses a 50 MB task at addStep, quickly, with its size, the limit and how to raise it', async () => {
    await t.register();
    const started = Date.now();
    const error = catchSync(() => WorkFlow.create('huge').addStep({ step: echo, tasks: ['small', 'x'.repeat(50 * 1000 * 1000)] }));
    expect(Date.now() - started).toBeLessThan(10_000); // measured once, on the JSON text made anyway
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(
      /task data at index 1 is 50000002 bytes as JSON, over the payload limit of 1048576 bytes \(1 MiB\)\. .*DeFlow\.register\(\{ maxPayloadBytes \}\)/,
    );
  });

  it('counts UTF-8 bytes, not characters, and accepts a payload right at the limit', async () => {
    await t.register({ maxPayloadBytes: 1000 });
    const workflow = WorkFlow.create('edge');
    expect(() => workflow.addStep({ step: echo, tasks: ['x'.repeat(998)] })).not.toThrow(); // 1000 bytes with its quotes
    expect(() => workflow.addStep({ step: echo, tasks: ['x'.repeat(999)] })).toThrow(/task data at index 0 is 1001 bytes/);
    expect(() => workflow.addStep({ step: echo, tasks: ['é'.repeat(499)] })).not.toThrow(); // 501 characters, 1000 bytes
    expect(() => workflow.addStep({ step: echo, tasks: ['é'.repeat(500)] })).toThrow(/task data at index 0 is 1002 bytes/);
  });

  it('refuses step data, and task data and step data given to addTasks and addAfter from a running step', async () => {
    await t.register({ maxPayloadBytes: 4096 });
    const big = 'x'.repeat(5000);
    expect(() => WorkFlow.create('data').addStep({ step: echo, data: { big }, tasks: [1] })).toThrow(/step data is 5\d{3} bytes as JSON, over the payload limit of 4096/);
    const refused: Error[] = [];
    const adder = new StepHandler({
      name: 'payload-adder',
      async beforeAll(step) {
        refused.push(await refusal(step.addTasks(['ok', big])));
        refused.push(await refusal(step.addAfter({ step: echo, data: big })));
        refused.push(await refusal(step.addAfter({ step: echo, tasks: [big] })));
        await step.addTasks(['ok']);
      },
      handler: (task) => task.data,
    });
    const result = await WorkFlow.create('adds').addStep({ step: adder }).run().done();
    expect(refused.map((e) => e.message)).toEqual([
      expect.stringMatching(/^step\.addTasks\(\): task data at index 1 is 5002 bytes as JSON, over the payload limit of 4096 bytes/),
      expect.stringMatching(/^step\.addAfter\(\): step data is 5002 bytes as JSON/),
      expect.stringMatching(/^step\.addAfter\(\): task data at index 0 is 5002 bytes as JSON/),
    ]);
    // Nothing of the refused calls was stored.
    expect(result.steps.map((s) => [s.name, s.tasks.map((task) => task.data)])).toEqual([['payload-adder', ['ok']]]);
  });

  it('fails an attempt whose result is over the limit, and stores no result', async () => {
    await t.register();
    const workflow = WorkFlow.create('big-result').addStep({ step: inflate, tasks: [10, 2 * MiB], options: { taskMaxFailCount: 2 } }).run();
    const error = (await workflow.done().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const [small, large] = error.result.steps[0]?.tasks ?? [];
    expect(small?.result).toBe('x'.repeat(10));
    expect(large?.status).toBe('failed');
    expect(large?.failedCount).toBe(2);
    expect(large?.result).toBeUndefined();
    expect(large?.error?.message).toMatch(
      /the result of task 2 of step "payload-inflate" is 2097154 bytes as JSON, over the payload limit of 1048576 bytes \(1 MiB\)/,
    );
  });

  it('applies the limit of the node to a result made in a worker thread', async () => {
    await t.register({ maxPayloadBytes: 2 * MiB, poolSize: 1 });
    const workflow = WorkFlow.create('isolated-result')
      .addStep({ step: inflateIsolated, tasks: [1.5 * MiB, 3 * MiB], options: { isolation: 'thread' } })
      .run();
    const error = (await workflow.done().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const [raised, over] = error.result.steps[0]?.tasks ?? [];
    expect((raised?.result as string).length).toBe(1.5 * MiB); // over the default, under the registered limit
    expect(over?.result).toBeUndefined();
    expect(over?.error?.message).toMatch(/the result of task 2 of step "fixture-inflate-isolated" is 3145730 bytes as JSON, over the payload limit of 2097152 bytes \(2 MiB\)/);
  });

  it('takes a larger limit from DeFlow.register, and checks it', async () => {
    expect(() => DeFlow.register({ maxPayloadBytes: 0 })).toThrow(/maxPayloadBytes must be a positive integer \(bytes of JSON\), got 0/);
    expect(() => DeFlow.register({ maxPayloadBytes: 2 ** 40 })).toThrow(/maxPayloadBytes must be at most 268435456/);
    await t.register({ maxPayloadBytes: 4 * MiB });
    const result = await WorkFlow.create('raised').addStep({ step: inflate, tasks: [3 * MiB] }).run().done();
    expect((result.steps[0]?.tasks[0]?.result as string).length).toBe(3 * MiB);
  });
});

function catchSync(call: () => unknown): Error {
  try {
    call();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

async function refusal(call: Promise<unknown>): Promise<Error> {
  try {
    await call;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}
