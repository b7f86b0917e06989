/**
 * Messages of the step options that later features added (concurrency limits, priorities,
 * maxNodeLosses): checked by the api before any backend sees them, so they run once, on SQLite,
 * rather than in the conformance suite on every backend.
 */
import { describe, expect, it } from 'vitest';
import { StepHandler, ValidationError, WorkFlow } from '../../src/index.js';
import { useConformance } from '../conformance/context.js';
import { sqliteUnderTest } from '../helpers/backends.js';

const echo = new StepHandler<unknown, number, number>({ name: 'option-checks-echo', handler: (task) => task.data });

describe('step option checks', () => {
  const t = useConformance(sqliteUnderTest());

  it('refuses a key without its limit, a limit without its key, and limits that are not positive integers', () => {
    const add = (options: Record<string, unknown>) => () => WorkFlow.create('bad').addStep({ step: echo, tasks: [], options });
    expect(add({ keyConcurrency: 2 })).toThrow(ValidationError);
    expect(add({ keyConcurrency: 2 })).toThrow(/keyConcurrency needs concurrencyKey/);
    expect(add({ concurrencyKey: 'customer.id' })).toThrow(/concurrencyKey needs keyConcurrency/);
    expect(add({ concurrencyKey: 'customer.id', keyConcurrency: 0 })).toThrow(/keyConcurrency must be a positive integer/);
    expect(add({ concurrencyKey: 'customer..id', keyConcurrency: 1 })).toThrow(/dotted path/);
    expect(add({ globalConcurrency: 1.5 })).toThrow(/globalConcurrency must be a positive integer/);
    expect(add({ globalConcurrency: -1 })).toThrow(ValidationError);
  });

  it('refuses a priority that is not an integer', () => {
    expect(() => WorkFlow.create('w', { priority: 1.5 })).toThrow(/WorkFlow.create options.priority must be an integer/);
    expect(() => WorkFlow.create('w').addStep({ step: echo, options: { priority: '1' as never } })).toThrow(/priority must be an integer/);
  });

  it('refuses a maxNodeLosses that is not a positive integer, Infinity included', async () => {
    await t.register({ worker: false });
    for (const bad of [0, 1.5, Infinity, '3']) {
      expect(() => WorkFlow.create('bad').addStep({ step: echo, tasks: [1], options: { maxNodeLosses: bad as number } })).toThrow(
        /maxNodeLosses must be a positive integer \(times a task may be lost with its node; Infinity is not allowed/,
      );
    }
  });
});
