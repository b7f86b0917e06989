/**
 * Rate limits (docs/concepts.md#rate-limits, the claim rule of docs/backends/step-machine.md):
 * a step with `rateLimit: name` starts at most `max` tasks in any window of `per` ms on the
 * backend's clock, and the nodes it holds back wake when the next start is allowed, so the rate
 * reaches the limit. Limits live in the backend; a limit that is not set fails the step's tasks.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, ValidationError, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { Backend } from '../../src/backends/backend.js';
import type { Conformance } from './context.js';

/** Start times of the rate-limited handler, by the backend's clock (set per test). */
let backendClock: Backend | null = null;
const starts: number[] = [];
const limited = new StepHandler<unknown, number, number>({
  name: 'rate-limited-call',
  async handler(task) {
    if (backendClock !== null) starts.push(await backendClock.now());
    return task.data;
  },
});

/** Removes the rate limit its task names (a limit removed while workflows use it). */
const remover = new StepHandler<unknown, string, boolean>({
  name: 'rate-limit-remover',
  handler: (task) => DeFlow.removeRateLimit(task.data),
});

/** A rate-limited handler that also counts its attempts in flight (a step with both kinds of limit). */
const inFlight = { now: 0, max: 0 };
const limitedTwice = new StepHandler<unknown, number, number>({
  name: 'rate-and-global-limited',
  async handler(task) {
    inFlight.now++;
    inFlight.max = Math.max(inFlight.max, inFlight.now);
    if (backendClock !== null) starts.push(await backendClock.now());
    await new Promise((resolve) => setTimeout(resolve, 60));
    inFlight.now--;
    return task.data;
  },
});

/** Start times of the keyed handler, per account (the task data's key). */
const keyedStarts = new Map<string, number[]>();
const keyedCall = new StepHandler<unknown, { account?: unknown; i: number }, number>({
  name: 'rate-limited-per-account',
  async handler(task) {
    const at = backendClock === null ? Date.now() : await backendClock.now();
    const account = String(task.data.account);
    keyedStarts.set(account, [...(keyedStarts.get(account) ?? []), at]);
    return task.data.i;
  },
});

/** Most starts in any window of `perMs` among sorted times. */
export function mostStartsInWindow(times: readonly number[], perMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while ((sorted[last] as number) - (sorted[first] as number) >= perMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

export function rateLimits(t: Conformance): void {
  // A backend that refuses keyed rate limits (Redis Cluster) says why in the skipped test's title.
  const refused = t.backend.refuses?.keyedRateLimit;
  const keyed = (title: string, test: () => Promise<void>): void => {
    if (refused === undefined) it(title, test);
    else it.skip(`${title} (skipped: ${refused})`, test);
  };
  describe('rate limits', () => {
    it('are set, listed, changed and removed in the backend', async () => {
      await t.register({ worker: false });
      expect(await DeFlow.rateLimits()).toEqual([]);
      await DeFlow.setRateLimit('b-api', { max: 10, per: 1000 });
      await DeFlow.setRateLimit('a-api', { max: 1, per: 60_000 });
      await DeFlow.setRateLimit('b-api', { max: 20, per: 500 });
      expect(await DeFlow.rateLimits()).toEqual([
        { name: 'a-api', max: 1, per: 60_000 },
        { name: 'b-api', max: 20, per: 500 },
      ]);
      expect(await DeFlow.removeRateLimit('a-api')).toBe(true);
      expect(await DeFlow.removeRateLimit('a-api')).toBe(false);
      expect(await DeFlow.rateLimits()).toEqual([{ name: 'b-api', max: 20, per: 500 }]);
    });

    it('refuses bad limits and bad step options with a ValidationError', async () => {
      await t.register({ worker: false });
      await expect(DeFlow.setRateLimit('x', { max: 0, per: 1000 })).rejects.toThrow(/options.max must be a positive integer/);
      await expect(DeFlow.setRateLimit('x', { max: 1.5, per: 1000 })).rejects.toThrow(ValidationError);
      await expect(DeFlow.setRateLimit('x', { max: 5, per: -1 })).rejects.toThrow(/options.per must be a positive integer/);
      await expect(DeFlow.setRateLimit('x', { max: 5 } as never)).rejects.toThrow(/need both max .* and per/);
      await expect(DeFlow.setRateLimit('', { max: 5, per: 10 })).rejects.toThrow(/name must be a non-empty string/);
      await expect(DeFlow.setRateLimit('x\0', { max: 5, per: 10 })).rejects.toThrow(/NUL/);
      expect(() => WorkFlow.create('w').addStep({ step: limited, options: { rateLimit: 5 as never } })).toThrow(/rateLimit must be a rate limit name or \{ name, key \}/);
      expect(await DeFlow.rateLimits()).toEqual([]);
    });

    it('never starts more than max tasks in any window of per, and reaches that rate', async () => {
      await t.register();
      backendClock = (await DeFlow.getInstance().services()).backend;
      starts.length = 0;
      const max = 4;
      const per = 600;
      await DeFlow.setRateLimit('partner-api', { max, per });
      const tasks = Array.from({ length: 14 }, (_, i) => i);
      const began = await backendClock.now();
      const result = await WorkFlow.create('throttled')
        .addStep({ step: limited, tasks, options: { rateLimit: 'partner-api', taskConcurrency: 8 } })
        .run()
        .done();
      const took = (await backendClock.now()) - began;
      backendClock = null;
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual(tasks);
      // Claims are counted at the backend; a handler reads the clock a little later, and two
      // reads can be nearer than the two claims were: some slack on the window (a loaded machine).
      expect(mostStartsInWindow(starts, per - 100)).toBeLessThanOrEqual(max);
      // 14 starts at 4 per 600 ms: 4 windows begin at 0, 600, 1200, 1800 ms; not far past that.
      expect(took).toBeGreaterThanOrEqual(3 * per - 40);
      expect(took).toBeLessThan(3 * per + 1_500);
    });

    it('shares one limit among steps and workflows', async () => {
      await t.register();
      backendClock = (await DeFlow.getInstance().services()).backend;
      starts.length = 0;
      await DeFlow.setRateLimit('shared', { max: 3, per: 500 });
      const options = { rateLimit: 'shared', taskConcurrency: 5 };
      const a = WorkFlow.create('a').addStep({ step: limited, tasks: [1, 2, 3, 4], options }).run();
      const b = WorkFlow.create('b').addStep({ step: limited, tasks: [5, 6, 7, 8], options }).run();
      await Promise.all([a.done(), b.done()]);
      backendClock = null;
      expect(starts).toHaveLength(8);
      expect(mostStartsInWindow(starts, 500 - 100)).toBeLessThanOrEqual(3);
    });

    it('holds a rate limit and globalConcurrency on the same step together', async () => {
      await t.register();
      backendClock = (await DeFlow.getInstance().services()).backend;
      starts.length = 0;
      inFlight.now = 0;
      inFlight.max = 0;
      await DeFlow.setRateLimit('both', { max: 3, per: 500 });
      const tasks = Array.from({ length: 9 }, (_, i) => i);
      const result = await WorkFlow.create('rate-and-global')
        .addStep({ step: limitedTwice, tasks, options: { rateLimit: 'both', globalConcurrency: 2, taskConcurrency: 6 } })
        .run()
        .done();
      backendClock = null;
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual(tasks);
      expect(inFlight.max).toBe(2);
      expect(starts).toHaveLength(9);
      expect(mostStartsInWindow(starts, 500 - 100)).toBeLessThanOrEqual(3);
    });

    keyed('keeps a bucket per key value with rateLimit { name, key }: each held to max per window, none waiting for another', async () => {
      await t.register();
      backendClock = (await DeFlow.getInstance().services()).backend;
      keyedStarts.clear();
      const max = 2;
      const per = 600;
      await DeFlow.setRateLimit('crm', { max, per });
      const accounts = ['a', 'b', 'c'];
      const tasks = accounts.flatMap((account) => Array.from({ length: 6 }, (_, i) => ({ account, i })));
      const began = await backendClock.now();
      const result = await WorkFlow.create('per-account')
        .addStep({ name: 'calls', step: keyedCall, tasks, options: { rateLimit: { name: 'crm', key: 'account' }, taskConcurrency: 12 } })
        .run()
        .done();
      const took = (await backendClock.now()) - began;
      backendClock = null;
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual(tasks.map((task) => task.i));
      for (const account of accounts) {
        const times = keyedStarts.get(account) ?? [];
        expect(times).toHaveLength(6);
        expect(mostStartsInWindow(times, per - 100)).toBeLessThanOrEqual(max);
      }
      // Each account: 6 starts at 2 per 600 ms begin at 0, 600, 1200 ms; the accounts in
      // parallel, so far less than the 3 accounts one after another (3 * 1800 ms).
      expect(took).toBeGreaterThanOrEqual(2 * per - 40);
      expect(took).toBeLessThan(2 * per + 2_000);
      const stored = await (await WorkFlow.getById(result.id))?.getStep('calls');
      expect(stored?.options.rateLimit).toEqual({ name: 'crm', key: 'account' });
    });

    keyed('fails, without running it, a task whose data lacks the rate limit key; the others run', async () => {
      await t.register();
      keyedStarts.clear();
      await DeFlow.setRateLimit('crm', { max: 5, per: 1000 });
      // Given as the workflow's default for its steps, this time.
      const failure = await WorkFlow.create('keyless', { rateLimit: { name: 'crm', key: 'account' } })
        .addStep({ name: 'calls', step: keyedCall, tasks: [{ account: 'a', i: 0 }, { i: 1 }, { account: null, i: 2 }] })
        .run()
        .done()
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const workflow = await WorkFlow.getById((failure as WorkflowFailedError).result.id);
      expect(workflow?.options.rateLimit).toEqual({ name: 'crm', key: 'account' });
      const tasks = (await (await workflow?.getStep('calls'))?.getResults()) ?? [];
      expect(tasks.map((task) => task.status)).toEqual(['succeeded', 'failed', 'failed']);
      expect(tasks[1]?.error).toMatchObject({ name: 'ValidationError' });
      expect(tasks[1]?.error?.message).toMatch(/task 2 of step "calls" has no rate limit key.*rateLimit "crm" key path "account", found nothing there/);
      expect(tasks[2]?.error?.message).toMatch(/task 3 of step "calls" has no rate limit key.*found a null/);
      expect([...keyedStarts.keys()]).toEqual(['a']);
    });

    it('refuses a keyed rateLimit without a usable name or key', () => {
      const add = (rateLimit: unknown) => () => WorkFlow.create('w').addStep({ step: keyedCall, options: { rateLimit: rateLimit as never } });
      expect(add({ name: 'crm' })).toThrow(/rateLimit needs key/);
      expect(add({ name: 'crm', key: '' })).toThrow(/rateLimit.key must be a non-empty string/);
      expect(add({ name: 'crm', key: 'a..b' })).toThrow(/rateLimit.key must be a dotted path/);
      expect(add({ key: 'account' })).toThrow(/rateLimit.name must be a non-empty string/);
      expect(add({ name: 'crm', key: 'account', per: 5 })).toThrow(ValidationError);
    });

    it('refuses to run a workflow whose step names a rate limit that is not set', async () => {
      await t.register();
      const workflow = WorkFlow.create('unset')
        .addStep({ name: 'calls', step: limited, tasks: [1, 2], options: { rateLimit: 'never-set' } })
        .run();
      await expect(workflow.done()).rejects.toThrow(ValidationError);
      await expect(workflow.done()).rejects.toThrow(
        'step "calls" of workflow "unset" names rate limit "never-set", which is not set: call DeFlow.setRateLimit("never-set", { max, per }) before run()',
      );
      expect(await WorkFlow.getById(workflow.id)).toBeNull();
      // The keyed form is refused the same way: the limit's name is what must be set.
      const keyed = WorkFlow.create('unset-keyed')
        .addStep({ name: 'calls', step: keyedCall, tasks: [{ account: 'a', i: 0 }], options: { rateLimit: { name: 'never-set', key: 'account' } } })
        .run();
      await expect(keyed.done()).rejects.toThrow(/step "calls" of workflow "unset-keyed" names rate limit "never-set", which is not set/);
    });

    it('fails the tasks of a step whose rate limit was removed, saying to set it', async () => {
      await t.register();
      await DeFlow.setRateLimit('short-lived', { max: 100, per: 1000 });
      const failure = await WorkFlow.create('removed-limit')
        .addStep({ name: 'remove', step: remover, tasks: ['short-lived'] })
        .addStep({ name: 'calls', step: limited, tasks: [1, 2], options: { rateLimit: 'short-lived' }, dependsOn: ['remove'] })
        .run()
        .done()
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const workflow = await WorkFlow.getById((failure as WorkflowFailedError).result.id);
      const step = await workflow?.getStep('calls');
      const tasks = (await step?.getResults()) ?? [];
      expect(tasks).toHaveLength(2);
      for (const task of tasks) {
        expect(task.error).toMatchObject({
          name: 'RateLimitError',
          code: 'ERR_RATE_LIMIT_UNKNOWN',
          rateLimit: 'short-lived',
          step: 'calls',
          message: 'step "calls" counts its starts against rate limit "short-lived", which is not set: call DeFlow.setRateLimit("short-lived", { max, per }) before running it',
        });
      }
    });
  });
}
