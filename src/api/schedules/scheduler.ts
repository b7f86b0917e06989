/**
 * The scheduler of one node: fires the ticks of the stored schedules whose definition this
 * process has loaded (docs/concepts.md#schedules).
 *
 * Exactly one workflow per tick, however many nodes race and whenever they crash: every node
 * that sees a tick due starts the definition under the tick's own workflow id (a start of an
 * existing id creates nothing), and only then records the tick (`claimScheduleTick`, which
 * only moves forward). A node killed between the two leaves the tick unrecorded; the next node
 * to look starts the same id again, which creates nothing, and records it. A node that does not
 * have the definition loaded never touches the schedule: its ticks are left to nodes that do.
 *
 * Time: due ticks are decided on the backend's clock; the node's Clock only sets the timer
 * that wakes it at the next tick (or after RESCAN_MS, to see schedules saved elsewhere that it
 * was not told about). Between ticks an idle node sleeps.
 */
import type { Backend, BackendEvent, ScheduleRecord } from '../../backends/backend.js';
import type { Clock, ClockTimer } from '../../clock.js';
import type { WorkflowStatus } from '../../backends/records.js';
import type { RegisteredDefinition } from '../definition-registry.js';
import { parseCron, ticksBetween } from './cron.js';
import type { CronTicks } from './cron.js';
import { scheduleKey, tickWorkflowId } from './schedule-options.js';

/** Re-read the schedules at least this often, in case a change was not heard of. */
const RESCAN_MS = 60_000;
/** After a failed tick, try again this soon. */
const RETRY_MS = 1_000;
/** A wake-up from the backend re-reads the schedules at most this often (SQLite wakes on every commit). */
const WAKE_THROTTLE_MS = 1_000;
/** At most this many due ticks of one schedule are fired in one round (a node that was frozen for long). */
const MAX_TICKS_PER_ROUND = 100;
const UNFINISHED: readonly WorkflowStatus[] = ['pending', 'running', 'paused'];

export interface SchedulerServices {
  backend: Backend;
  clock: Clock;
  /** The definition of this name loaded in this process, if any. */
  definition(name: string): RegisteredDefinition | undefined;
  problem(error: Error, during: string): void;
}

export class Scheduler {
  readonly #s: SchedulerServices;
  /** Backend time this node started scheduling: ticks at or before it were missed (catchUp). */
  #liveFrom: number | null = null;
  /** Per schedule, the last tick this node dealt with (fired, skipped or left as missed). */
  readonly #handled = new Map<string, number>();
  readonly #crons = new Map<string, { text: string; ticks: CronTicks }>();
  #timer: ClockTimer | null = null;
  /** When the timer fires (monotonic clock); infinite when none is armed. */
  #timerAt = Number.POSITIVE_INFINITY;
  #round: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #lastRoundAt = Number.NEGATIVE_INFINITY;
  #unsubscribe: (() => void) | null = null;

  constructor(services: SchedulerServices) {
    this.#s = services;
  }

  start(): void {
    this.#unsubscribe = this.#s.backend.subscribe((event: BackendEvent) => {
      if (event.type === 'wake' || event.type === 'resync') this.#onWake();
    });
    this.poke();
  }

  /** Looks at the schedules now (one round at a time; a poke during a round runs another after it). */
  poke(): void {
    if (this.#stopped) return;
    if (this.#round !== null) {
      this.#again = true;
      return;
    }
    this.#timer?.cancel();
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#lastRoundAt = this.#s.clock.monotonic();
    this.#round = this.#run().finally(() => {
      this.#round = null;
      if (this.#again) {
        this.#again = false;
        this.poke();
      }
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#timer?.cancel();
    await this.#round;
  }

  /** A change somewhere (a schedule saved in another process): look again, at most once per WAKE_THROTTLE_MS. */
  #onWake(): void {
    if (this.#stopped) return;
    if (this.#round !== null) {
      this.#again = true;
      return;
    }
    const wait = WAKE_THROTTLE_MS - (this.#s.clock.monotonic() - this.#lastRoundAt);
    if (wait <= 0) this.poke();
    else if (this.#timerAt > this.#s.clock.monotonic() + wait) this.#sleep(wait);
  }

  async #run(): Promise<void> {
    let sleepMs = RETRY_MS;
    try {
      sleepMs = await this.#tickAll();
    } catch (error) {
      if (!this.#stopped) this.#s.problem(error as Error, 'schedules');
    }
    if (!this.#stopped && !this.#again) this.#sleep(sleepMs);
  }

  #sleep(ms: number): void {
    this.#timer?.cancel();
    this.#timerAt = this.#s.clock.monotonic() + Math.max(0, ms);
    this.#timer = this.#s.clock.after(Math.max(0, ms), () => {
      this.#timer = null;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.poke();
    }, { unref: true });
  }

  /** One round over every schedule; resolves with how long to sleep until the next tick. */
  async #tickAll(): Promise<number> {
    const now = await this.#s.backend.now();
    this.#liveFrom ??= now;
    const schedules = await this.#s.backend.listSchedules();
    let wakeAt = now + RESCAN_MS;
    const names = new Set<string>();
    for (const schedule of schedules) {
      names.add(schedule.name);
      if (this.#stopped) break;
      const definition = this.#s.definition(schedule.workflow);
      if (definition === undefined) continue;
      const cron = this.#cron(schedule);
      if (cron === null) continue;
      const next = await this.#tickOne(schedule, definition, cron, now);
      if (next !== null) wakeAt = Math.min(wakeAt, next);
    }
    for (const name of this.#handled.keys()) if (!names.has(name)) this.#handled.delete(name);
    for (const name of this.#crons.keys()) if (!names.has(name)) this.#crons.delete(name);
    return wakeAt - now;
  }

  /** Fires the due ticks of one schedule; resolves with when to look at it again (backend clock). */
  async #tickOne(schedule: ScheduleRecord, definition: RegisteredDefinition, cron: CronTicks, now: number): Promise<number | null> {
    const liveFrom = this.#liveFrom ?? now;
    const base = Math.max(schedule.lastTick ?? Number.NEGATIVE_INFINITY, schedule.savedAt, this.#handled.get(schedule.name) ?? Number.NEGATIVE_INFINITY);
    const due = ticksBetween(cron, base, now, MAX_TICKS_PER_ROUND);
    const missed = due.filter((tick) => tick <= liveFrom);
    const fire = due.filter((tick) => tick > liveFrom);
    const latestMissed = missed.at(-1);
    if (schedule.catchUp === 'latest' && latestMissed !== undefined) fire.unshift(latestMissed);
    const lastDue = due.at(-1);
    if (lastDue !== undefined && fire.length === 0) this.#handled.set(schedule.name, lastDue);
    for (const tick of fire) {
      try {
        await this.#fire(schedule, definition, tick);
      } catch (error) {
        // Stopping (unregister) refuses new starts: nothing to report, the tick is left to others.
        if (!this.#stopped) this.#s.problem(error as Error, `schedule ${JSON.stringify(schedule.name)}`);
        return now + RETRY_MS;
      }
      this.#handled.set(schedule.name, tick);
    }
    return cron.next(Math.max(base, now));
  }

  /** Starts the tick's workflow (or skips it while the previous one runs), then records the tick. */
  async #fire(schedule: ScheduleRecord, definition: RegisteredDefinition, tick: number): Promise<void> {
    const id = tickWorkflowId(schedule.name, tick);

    const key = scheduleKey(schedule.name);
    if (schedule.overlap === 'skip' && (await this.#busy(key, id))) {
      await this.#s.backend.claimScheduleTick(schedule.name, tick, null);
      return;
    }
    await definition.start(JSON.parse(schedule.inputJson) as unknown, { id, key });
    await this.#s.backend.claimScheduleTick(schedule.name, tick, id);
  }

  /** Whether a workflow of this schedule other than `id` is unfinished. */
  async #busy(key: string, id: string): Promise<boolean> {
    for (const status of UNFINISHED) {
      const found = await this.#s.backend.listWorkflows({ key, status, limit: 2 });
      if (found.some((workflow) => workflow.id !== id)) return true;
    }
    return false;
  }

  #cron(schedule: ScheduleRecord): CronTicks | null {
    const text = `${schedule.cron}\0${schedule.timezone ?? ''}`;
    const cached = this.#crons.get(schedule.name);
    if (cached?.text === text) return cached.ticks;
    try {
      const ticks = parseCron(schedule.cron, schedule.timezone, `schedule ${JSON.stringify(schedule.name)}: stored cron`);
      this.#crons.set(schedule.name, { text, ticks });
      return ticks;
    } catch (error) {
      this.#s.problem(error as Error, `schedule ${JSON.stringify(schedule.name)}`);
      return null;
    }
  }
}
