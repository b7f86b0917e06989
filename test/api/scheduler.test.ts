/**
 * The scheduler on a TestClock, against the real SQLite store driven by the same clock: ticks
 * fire as time moves (no sleeping), an idle scheduler holds one timer until the next tick instead
 * of polling, several schedulers start the same ids and record each tick once, a scheduler
 * without the definition never touches the schedule, and catchUp decides the missed ticks.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewSchedule } from '../../src/backends/backend.js';
import { SqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js';
import { TestClock } from '../../src/clock.js';
import type { RegisteredDefinition, StartOptions } from '../../src/api/definition-registry.js';
import { Scheduler } from '../../src/api/schedules/scheduler.js';
import type { WorkFlow } from '../../src/index.js';

const START = Date.UTC(2026, 0, 1, 12, 0, 0, 300);

let clock: TestClock;
let store: SqliteBackend;
const schedulers: Scheduler[] = [];
let problems: string[];

beforeEach(async () => {
  clock = new TestClock(START);
  store = new SqliteBackend({ path: ':memory:', clock });
  await store.open();
  problems = [];
});

afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.stop()));
  await store.close();
});

/** A definition that records the ids it is started under (the store's own start is tested by the conformance suite). */
function recorder(name: string): RegisteredDefinition & { ids: string[] } {
  const ids: string[] = [];
  return {
    name,
    description: undefined,
    definedAt: undefined,
    ids,
    start(_input: unknown, options?: StartOptions): Promise<WorkFlow> {
      ids.push(options?.id ?? '?');
      return Promise.resolve({} as WorkFlow);
    },
  };
}

function scheduler(definitions: RegisteredDefinition[]): Scheduler {
  const created = new Scheduler({
    backend: store,
    clock,
    definition: (name) => definitions.find((definition) => definition.name === name),
    problem: (error, during) => problems.push(`${during}: ${error.message}`),
  });
  schedulers.push(created);
  created.start();
  return created;
}

function schedule(overrides: Partial<NewSchedule> = {}): NewSchedule {
  return { name: 'report', cron: '* * * * * *', timezone: null, workflow: 'report', inputJson: 'null', overlap: 'allow', catchUp: 'none', ...overrides };
}

const at = (seconds: number): string => `schedule:report:${new Date(Date.UTC(2026, 0, 1, 12, 0, seconds)).toISOString()}`;

async function lastTick(): Promise<number | null> {
  return (await store.listSchedules())[0]?.lastTick ?? null;
}

describe('scheduler', () => {
  it('fires each tick once as the clock moves, and records the last one', async () => {
    await store.saveSchedule(schedule());
    const report = recorder('report');
    scheduler([report]);
    await clock.advance(5_000);
    expect(report.ids).toEqual([at(1), at(2), at(3), at(4), at(5)]);
    expect(await lastTick()).toBe(Date.UTC(2026, 0, 1, 12, 0, 5));
    expect(problems).toEqual([]);
  });

  it('sleeps until the next tick: one timer, nothing fired before it is due', async () => {
    await store.saveSchedule(schedule({ cron: '0 * * * *' }));
    let rounds = 0;
    const list = store.listSchedules.bind(store);
    store.listSchedules = () => {
      rounds++;
      return list();
    };
    const report = recorder('report');
    scheduler([report]);
    await clock.advance(0);
    const timers = clock.pending;
    await clock.advance(59 * 60_000);
    expect(report.ids).toEqual([]);
    // It looked once, then once a minute in case a change went unheard; no polling loop.
    expect(rounds).toBeLessThanOrEqual(61);
    expect(clock.pending).toBe(timers);
    await clock.advance(60_000);
    expect(report.ids).toEqual([`schedule:report:${new Date(Date.UTC(2026, 0, 1, 13, 0, 0)).toISOString()}`]);
  });

  it('has every scheduler with the definition start the same ids, and records each tick once', async () => {
    await store.saveSchedule(schedule());
    const [a, b] = [recorder('report'), recorder('report')];
    scheduler([a]);
    scheduler([b]);
    await clock.advance(3_000);
    // Both may start a tick: its id makes the second start create nothing.
    expect(new Set([...a.ids, ...b.ids])).toEqual(new Set([at(1), at(2), at(3)]));
    expect(await lastTick()).toBe(Date.UTC(2026, 0, 1, 12, 0, 3));
  });

  it('looks again soon after a wake-up (a schedule saved elsewhere), not at its next rescan', async () => {
    const report = recorder('report');
    scheduler([report]);
    await clock.advance(200);
    // Saved by another process within the first second: the wake-up comes while it is throttled.
    await store.saveSchedule(schedule());
    await store.publish([{ type: 'wake' }]);
    await clock.advance(3_000);
    expect(report.ids.length).toBeGreaterThanOrEqual(2);
    expect(report.ids.at(-1)).toBe(at(3));
  });

  it('leaves the schedule alone where the definition is not loaded', async () => {
    await store.saveSchedule(schedule());
    scheduler([recorder('something-else')]);
    await clock.advance(3_000);
    expect(await lastTick()).toBeNull();
  });

  it("fires the latest missed tick once with catchUp 'latest', and none with 'none'", async () => {
    await store.saveSchedule(schedule({ catchUp: 'latest' }));
    await store.saveSchedule(schedule({ name: 'quiet', catchUp: 'none' }));
    // No scheduler runs for ten seconds: ticks 1..10 are missed.
    await clock.advance(10_000);
    const report = recorder('report');
    scheduler([report]);
    await clock.advance(0);
    const ofReport = (): string[] => report.ids.filter((id) => id.startsWith('schedule:report:'));
    const ofQuiet = (): string[] => report.ids.filter((id) => id.startsWith('schedule:quiet:'));
    expect(ofReport()).toEqual([at(10)]);
    expect(ofQuiet()).toEqual([]);
    // Ticks after the scheduler started fire as they come, for both.
    await clock.advance(2_000);
    expect(ofReport()).toEqual([at(10), at(11), at(12)]);
    expect(ofQuiet()).toEqual([at(11).replace('report', 'quiet'), at(12).replace('report', 'quiet')]);
    const quiet = (await store.listSchedules()).find((record) => record.name === 'quiet');
    expect(quiet?.lastTick).toBe(Date.UTC(2026, 0, 1, 12, 0, 12));
  });
});
