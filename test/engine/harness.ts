/**
 * What the engine unit tests share: a real embedded SQLite store on a TestClock, a thin
 * recording wrapper around it (counts round trips, holds or fails the next call of a method),
 * and a workflow of one step to claim jobs from.
 */
import type { Backend, ClaimedJob, JobOutcome, RunnableStep } from '../../src/backends/backend.js';
import { SqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js';
import type { ResolvedStepOptions } from '../../src/backends/records.js';
import type { TestClock } from '../../src/clock.js';
import { leaseOf } from '../../src/engine/lease.js';

/** A fresh in-memory store whose time is `clock`. */
export async function openStore(clock: TestClock): Promise<SqliteBackend> {
  // Polling only matters between processes; the long interval keeps it out of the way.
  const store = new SqliteBackend({ path: ':memory:', clock, pollIntervalMs: 60_000 });
  await store.open();
  return store;
}

/** Round-trip methods the recorder sees; everything else goes straight to the store. */
const ROUND_TRIPS = new Set([
  'runnableSteps',
  'claim',
  'complete',
  'release',
  'registerNode',
  'heartbeat',
  'unregisterNode',
  'recoverExpired',
  'sweep',
]);

export interface RecordedCall {
  method: string;
  args: unknown[];
}

export interface Hold {
  /** Resolves once the held call arrived. */
  readonly reached: Promise<void>;
  /** Lets the held call go on to the store. */
  release(): void;
}

export class Recorder {
  readonly calls: RecordedCall[] = [];
  readonly backend: Backend;
  private readonly failures = new Map<string, Error[]>();
  private readonly holds = new Map<string, { hold: Hold; arrived: () => void; gate: Promise<void> }[]>();

  constructor(readonly store: Backend) {
    this.backend = new Proxy(store, {
      get: (target, property) => {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => unknown;
        if (typeof property !== 'string' || !ROUND_TRIPS.has(property)) return method.bind(target);
        return (...args: unknown[]) => this.call(property, args, () => method.apply(target, args) as Promise<unknown>);
      },
    });
  }

  count(method: string): number {
    return this.calls.filter((call) => call.method === method).length;
  }

  argsOf(method: string): unknown[][] {
    return this.calls.filter((call) => call.method === method).map((call) => call.args);
  }

  /** The next `times` calls of `method` reject before reaching the store. */
  failNext(method: string, times = 1): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(new Error(`${method}: the store is unreachable (injected)`));
    this.failures.set(method, queue);
  }

  /** The next call of `method` waits for `release()` before it reaches the store. */
  holdNext(method: string): Hold {
    let arrived!: () => void;
    let open!: () => void;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    const gate = new Promise<void>((resolve) => (open = resolve));
    const hold: Hold = { reached, release: open };
    const queue = this.holds.get(method) ?? [];
    queue.push({ hold, arrived, gate });
    this.holds.set(method, queue);
    return hold;
  }

  private async call(method: string, args: unknown[], real: () => Promise<unknown>): Promise<unknown> {
    this.calls.push({ method, args });
    const held = this.holds.get(method)?.shift();
    if (held !== undefined) {
      held.arrived();
      await held.gate;
    }
    const failure = this.failures.get(method)?.shift();
    if (failure !== undefined) throw failure;
    return real();
  }
}

export const SLOW_STEP_OPTIONS: ResolvedStepOptions = {
  taskConcurrency: 1,
  taskTimeout: 0,
  taskMaxFailCount: 1,
  taskFailRetryDelay: 0,
};

/** Stores a workflow of one step with `tasks` tasks and returns that step as a node finds it. */
export async function oneStepWorkflow(
  store: Backend,
  { tasks, options = {}, handlerKey = 'engine-test' }: { tasks: number; options?: Partial<ResolvedStepOptions>; handlerKey?: string },
): Promise<RunnableStep> {
  const workflowId = `wf-${Math.random().toString(36).slice(2)}`;
  await store.createWorkflow({
    id: workflowId,
    name: 'engine-test',
    options: { cleanOnDone: false, retentionMs: null, keepMs: null, stepDefaults: {} },
    steps: [
      {
        id: '1',
        name: 'work',
        handler: { key: handlerKey, hasBeforeAll: false, hasAfterAll: false },
        dataJson: 'null',
        options: { ...SLOW_STEP_OPTIONS, ...options },
        deps: [],
        tasksJson: Array.from({ length: tasks }, (_, i) => JSON.stringify(i + 1)),
      },
    ],
    watchNextTask: false,
    replaceByName: false,
  });
  const { steps } = await store.runnableSteps(100);
  const step = steps.find((candidate) => candidate.workflowId === workflowId);
  if (step === undefined) throw new Error('the new step is not runnable');
  return step;
}

/** Registers a node that holds its lease for `leaseMs`. */
export async function registerNode(store: Backend, id: string, leaseMs = 30_000): Promise<void> {
  await store.registerNode({ id, host: 'test', pid: process.pid, handlers: [], leaseMs });
}

export function succeeded(job: ClaimedJob): JobOutcome {
  return { ...leaseOf(job), status: 'succeeded', resultJson: JSON.stringify(job.seq), error: null };
}

/** Task statuses of a step, in seq order. */
export async function taskStatuses(store: Backend, step: RunnableStep): Promise<string[]> {
  const tasks = await store.getTasks(step.workflowId, step.stepId, { afterSeq: 0, limit: 1000 });
  return tasks.map((task) => task.status);
}

/** Lets several turns of the event loop pass (setImmediate chains) without moving time. */
export async function turns(clock: TestClock, count = 5): Promise<void> {
  for (let i = 0; i < count; i++) await clock.advance(0);
}

/** Resolves after `ms` on the test clock. */
export function sleep(clock: TestClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.after(ms, resolve));
}
