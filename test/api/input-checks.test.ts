/**
 * Messages of the checks made on the options and arguments of the public API (DeFlow.register,
 * WorkFlow.create, addStep, StepHandler, paging, addTasks data, the step graph at run()): no backend behaviour, so they run
 * once, on SQLite where a registration is needed.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, StepModuleError, ValidationError, WorkFlow, WorkflowDefinitionError } from '../../src/index.js';
import { systemClock } from '../../src/clock.js';
import { useConformance } from '../conformance/context.js';
import { sqliteUnderTest } from '../helpers/backends.js';

const slow = new StepHandler<unknown, number, number>({
  name: 'api-slow',
  async handler(task) {
    await new Promise((resolve) => setTimeout(resolve, task.data)); // the work a task does
    return task.data;
  },
});

const label = new StepHandler<unknown, string, string>({ name: 'dag-label', handler: (task) => task.data });

describe('API input checks', () => {
  const t = useConformance(sqliteUnderTest());

  it('rejects bad input at the call that received it, with a message that says what to do', async () => {
    expect(() => WorkFlow.create('x', { taskTimout: 5 } as never)).toThrow(/unknown option "taskTimout". Known options: taskConcurrency/);
    expect(() => WorkFlow.create('x', { taskTimeout: -1 })).toThrow(/taskTimeout must be a non-negative integer \(milliseconds, 0 = no timeout\), got -1/);
    expect(() => WorkFlow.create('')).toThrow(/needs a non-empty name/);
    const wf = WorkFlow.create('bad-input');
    expect(() => wf.addStep({ step: slow, tasks: [() => 1] as never })).toThrow(/task data at index 0 is not JSON-serialisable: it holds a function/);
    expect(() => wf.addStep({ step: slow, tasks: [{ big: 1n }] as never })).toThrow(/holds a bigint at key "big"/);
    expect(() => wf.addStep({ step: slow, tasks: [{ m: new Map() }] as never })).toThrow(/holds a Map at key "m"/);
    expect(() => wf.addStep({ step: slow, options: { taskConcurency: 2 } as never })).toThrow(/unknown option "taskConcurency"/);
    expect(() => wf.addStep({ step: './relative.js' })).toThrow(/is neither a file: URL nor an absolute path/);
    expect(() => wf.addStep({ step: '/no/such/module.js' })).toThrow(StepModuleError);
    expect(() => wf.addStep({ step: 42 as never })).toThrow(/step must be a StepHandler/);
    expect(() => new StepHandler({})).toThrow(/define at least one of handler, beforeAll or afterAll/);
    expect(() => DeFlow.register({ backend: 'mysql://x' })).toThrow(/unsupported backend "mysql:\/\/x"/);
    expect(() => DeFlow.register({ leaseMs: 5 })).toThrow(ValidationError);
    expect(() => DeFlow.register({ startupTimeout: -1 })).toThrow(/options.startupTimeout must be a non-negative integer \(milliseconds, 0 = fail at once\), got -1/);
    expect(() => DeFlow.register({ startupTimeout: 3e9 })).toThrow(/options.startupTimeout must be at most 2147483647/);
    expect(() => DeFlow.register({ resultTasks: -1 })).toThrow(/options.resultTasks must be a non-negative integer \(tasks, or Infinity\), got -1/);
    expect(() => DeFlow.register({ resultTasks: 1.5 })).toThrow(/options.resultTasks must be a non-negative integer/);
    expect(() => DeFlow.register({ schema: 'Robert"); DROP TABLE students;--' })).toThrow(/options.schema must be a lowercase PostgreSQL name/);
    expect(() => DeFlow.register({ prefix: 'app{1}' })).toThrow(/options.prefix must be a non-empty string without "\{" or "\}"/);
    expect(() => WorkFlow.create('empty').run()).toThrow(/has no steps/);
    expect(() => WorkFlow.create('unregistered').addStep({ step: slow }).run()).toThrow(/call DeFlow.register\(\)/);
    expect(() => wf.addStep({ step: slow, tasks: [{ bytes: new Uint8Array([1, 2]) }] as never })).toThrow(/binary data \(Uint8Array\) at key "bytes"/);
    expect(() => new StepHandler({ name: 'api-bad-defaults', tasks: [() => 1], handler: () => 1 })).toThrow(/task data at index 0 is not JSON-serialisable/);
    new StepHandler({ name: 'api-twice', handler: () => 1 });
    expect(() => new StepHandler({ name: 'api-twice', handler: () => 2 })).toThrow(/two StepHandlers are named "api-twice"/);
    expect(() => DeFlow.register({ backend: 'sqlite:' })).toThrow(/"sqlite:" needs a file path/);
    expect(() => DeFlow.register({ backend: 'redis://127.0.0.1:abc' })).toThrow(/is not a valid URL/);
    expect(() => DeFlow.register({ backend: 'redis://127.0.0.1:6379/abc' })).toThrow(/must be a database index/);
    expect(() => DeFlow.register({ backend: 'postgres://u:secret@127.0.0.1:abc/db' })).toThrow(/"postgres:\/\/u:\*\*\*@127.0.0.1:abc\/db" is not a valid URL/);
    expect(() => DeFlow.register({ connection: { port: 70_000 } })).toThrow(/connection.port must be at most 65535/);
    expect(() => DeFlow.register({ connection: { connectTimeout: -1 } })).toThrow(/connection.connectTimeout must be a positive integer/);
    expect(() => DeFlow.register({ connection: { db: '2' } as never })).toThrow(/connection.db must be a non-negative integer .*got "2"/);
    expect(() => DeFlow.register({ connection: { tls: 'no' } as never })).toThrow(/connection.tls must be true, false or an object/);
    expect(() => DeFlow.register({ leaseMs: 7e9 })).toThrow(/leaseMs must be at most 86400000/);
    expect(() => DeFlow.register({ schema: 'pg_mine' })).toThrow(/"pg_" are reserved/);
  });

  it('refuses every duration longer than a timer can wait, naming the option, the value and the maximum', () => {
    // Node turns a longer timer into 1 ms: taskTimeout 3e9 would fail every attempt at once.
    const limit = /must be at most 2147483647 ms \(~24.8 days, the longest a timer can wait\), got 3000000000/;
    const wf = WorkFlow.create('durations');
    expect(() => WorkFlow.create('x', { taskTimeout: 3e9 })).toThrow(ValidationError);
    expect(() => WorkFlow.create('x', { taskTimeout: 3e9 })).toThrow(new RegExp(`WorkFlow.create options.taskTimeout ${limit.source}`));
    expect(() => WorkFlow.create('x', { taskFailRetryDelay: 3e9 })).toThrow(new RegExp(`taskFailRetryDelay ${limit.source}`));
    expect(() => wf.addStep({ step: slow, options: { taskTimeout: 3e9 } })).toThrow(new RegExp(`addStep.*taskTimeout ${limit.source}`));
    expect(() => wf.addStep({ step: slow, options: { taskFailRetryDelay: 3e9 } })).toThrow(new RegExp(`taskFailRetryDelay ${limit.source}`));
    expect(() => new StepHandler({ name: 'api-long', options: { taskTimeout: 3e9 }, handler: () => 1 })).toThrow(new RegExp(`taskTimeout ${limit.source}`));
    expect(() => DeFlow.register({ drainTimeout: 3e9 })).toThrow(new RegExp(`drainTimeout ${limit.source}`));
    expect(() => DeFlow.register({ pollInterval: 3e9 })).toThrow(new RegExp(`pollInterval ${limit.source}`));
    expect(() => DeFlow.register({ checkProcessQueueInterval: 3e9 })).toThrow(new RegExp(`checkProcessQueueInterval ${limit.source}`));
    expect(() => DeFlow.register({ connection: { connectTimeout: 3e9 } })).toThrow(new RegExp(`connectTimeout ${limit.source}`));
    expect(() => DeFlow.register({ connection: { retryMaxDelay: 3e9 } })).toThrow(new RegExp(`retryMaxDelay ${limit.source}`));
    expect(() => DeFlow.register({ leaseMs: 3e9 })).toThrow(/leaseMs must be at most 86400000/);
    // The largest value a timer holds is accepted.
    expect(() => WorkFlow.create('x', { taskTimeout: 2 ** 31 - 1, taskFailRetryDelay: 2 ** 31 - 1 })).not.toThrow();
  });

  it('never lets a timer the clock arms become a busy loop', async () => {
    let fired = 0;
    const repeating = systemClock.every(Number.NaN, () => fired++);
    const huge = systemClock.after(3e9, () => fired++);
    await new Promise((resolve) => setTimeout(resolve, 100));
    repeating.cancel();
    huge.cancel();
    expect(fired).toBe(0);
  });

  it('checks paging arguments', async () => {
    await t.register();
    const workflow = WorkFlow.create('paging').addStep({ step: slow, tasks: [1, 2] }).run();
    await workflow.done();
    const step = await workflow.getStep('api-slow');
    await expect(step?.getResultsPage({ limit: 1.5 })).rejects.toThrow(/getResultsPage\(\) limit must be a positive integer, got 1.5/);
    await expect(step?.getResultsPage({ afterSeq: -1 })).rejects.toThrow(/afterSeq must be a non-negative integer/);
    await expect(step?.iterateResults(0).next()).rejects.toThrow(/pageSize must be a positive integer/);
    await expect(WorkFlow.getByName('paging', -1)).rejects.toThrow(/limit must be a positive integer/);
  });

  it('rejects step.addTasks with data JSON cannot hold', async () => {
    await t.register();
    const errors: unknown[] = [];
    const adder = new StepHandler<unknown, unknown, unknown>({
      name: 'api-adder',
      async beforeAll(step) {
        errors.push(await step.addTasks([{ when: new Set([1]) }]).catch((e: unknown) => e));
        await step.addTasks([1]);
      },
      handler: (task) => task.data,
    });
    await WorkFlow.create('add-bad').addStep({ step: adder }).run().done();
    expect(errors[0]).toBeInstanceOf(ValidationError);
    expect((errors[0] as Error).message).toMatch(/task data at index 0 is not JSON-serialisable: it holds a Set at key "when"/);
  });

  it('rejects a cycle, an unknown dependency and an ambiguous one at run()', () => {
    const cycle = WorkFlow.create('cycle')
      .addStep({ name: 'a', step: label, dependsOn: ['c'] })
      .addStep({ name: 'b', step: label, dependsOn: ['a'] })
      .addStep({ name: 'c', step: label, dependsOn: ['b'] });
    expect(() => cycle.run()).toThrow(WorkflowDefinitionError);
    expect(() => cycle.run()).toThrow(/dependency cycle among steps "a", "b", "c"/);

    const unknown = WorkFlow.create('unknown').addStep({ name: 'a', step: label }).addStep({ name: 'b', step: label, dependsOn: ['nope'] });
    expect(() => unknown.run()).toThrow(/step "b" depends on unknown step "nope". Known step names: "a", "b"/);

    const twins = WorkFlow.create('ambiguous')
      .addStep({ name: 'a', step: label })
      .addStep({ name: 'a', step: label })
      .addStep({ name: 'b', step: label, dependsOn: ['a'] });
    expect(() => twins.run()).toThrow(/2 steps have that name/);

    const self = WorkFlow.create('self').addStep({ name: 'a', step: label, dependsOn: ['a'] });
    expect(() => self.run()).toThrow(/depends on itself/);
  });
});
