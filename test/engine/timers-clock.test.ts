/**
 * Step timers on the injectable clock (SQLite, the reference machine): the due time is fixed
 * from the store's clock when the step's turn comes, reported as nextRunAt, and the step starts
 * at that instant, not a millisecond before. And a node's wait for a far-off time is cut into
 * timer-sized pieces, each followed by asking the store again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NewStep } from '../../src/backends/backend.js';
import type { SqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js';
import { MAX_TIMER_MS, TestClock } from '../../src/clock.js';
import { EarliestTimer } from '../../src/engine/earliest-timer.js';
import { SLOW_STEP_OPTIONS, openStore } from './harness.js';

let store: SqliteBackend | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
});

function step(id: string, timer: Pick<NewStep, 'delayMs' | 'startAt'>, deps: string[] = []): NewStep {
  return {
    id,
    name: `step-${id}`,
    handler: { key: 'timers-clock', hasBeforeAll: false, hasAfterAll: false },
    dataJson: 'null',
    options: SLOW_STEP_OPTIONS,
    deps: deps.map((stepId) => ({ stepId, on: 'success' as const })),
    tasksJson: ['1'],
    ...timer,
  };
}

async function create(backend: SqliteBackend, steps: NewStep[]): Promise<string> {
  const id = `wf-${Math.random().toString(36).slice(2)}`;
  await backend.createWorkflow({
    id,
    name: 'timers-clock',
    options: { cleanOnDone: false, retentionMs: null, keepMs: null, stepDefaults: {} },
    steps,
    watchNextTask: false,
    replaceByName: false,
  });
  return id;
}

describe('step timers on the store clock', () => {
  it('starts a delayed step exactly at its due time, reported as nextRunAt until then', async () => {
    const clock = new TestClock();
    store = await openStore(clock);
    const created = clock.now();
    const id = await create(store, [step('1', { delayMs: 60_000 })]);
    expect(await store.runnableSteps(10)).toEqual({ steps: [], now: created, nextRunAt: created + 60_000 });
    expect(await store.getStep(id, '1')).toMatchObject({ status: 'waiting', readyAt: created + 60_000, startedAt: null });
    await clock.advance(59_999);
    expect((await store.runnableSteps(10)).steps).toEqual([]);
    await clock.advance(1);
    const { steps, nextRunAt } = await store.runnableSteps(10);
    expect(steps.map((s) => s.stepId)).toEqual(['1']);
    expect(nextRunAt).toBeNull();
    expect(await store.getStep(id, '1')).toMatchObject({ status: 'running', readyAt: created + 60_000, startedAt: created + 60_000 });
  });

  it('counts a delay from the turn of the step, and takes the later of delay and startAt', async () => {
    const clock = new TestClock();
    store = await openStore(clock);
    const t0 = clock.now();
    const id = await create(store, [step('1', {}), step('2', { delayMs: 1_000, startAt: t0 + 500 }, ['1']), step('3', { delayMs: 100, startAt: t0 + 5_000 }, ['1'])]);
    await clock.advance(2_000);
    const [first] = (await store.runnableSteps(10)).steps;
    if (first === undefined) throw new Error('step 1 is not runnable');
    await store.registerNode({ id: 'n', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    const { jobs } = await store.claim({ nodeId: 'n', workflowId: id, stepId: '1', limit: 1 });
    await store.complete({ outcomes: jobs.map((job) => ({ ...job, status: 'succeeded' as const, resultJson: null, error: null })) });
    expect((await store.getStep(id, '2'))?.readyAt).toBe(t0 + 2_000 + 1_000);
    expect((await store.getStep(id, '3'))?.readyAt).toBe(t0 + 5_000);
    expect((await store.runnableSteps(10)).nextRunAt).toBe(t0 + 3_000);
  });

  it('reports a startAt a year away, and the node asks again after the longest timer instead of overflowing it', async () => {
    const clock = new TestClock();
    store = await openStore(clock);
    const year = 365 * 24 * 3_600_000;
    await create(store, [step('1', { startAt: clock.now() + year })]);
    expect((await store.runnableSteps(10)).nextRunAt).toBe(clock.now() + year);
    let fired = 0;
    const timer = new EarliestTimer(clock, () => fired++);
    timer.in(year);
    await clock.advance(MAX_TIMER_MS - 1);
    expect(fired).toBe(0);
    await clock.advance(1);
    expect(fired).toBe(1);
  });
});
