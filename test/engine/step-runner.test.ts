/**
 * StepRunner against the real SQLite store on a TestClock: how it keeps its lanes busy, how many
 * jobs it holds as job durations change, and what it does with claimed jobs when it stops. The
 * host is the part of a node a runner talks to, built from the real batcher and the api's views.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Backend, ClaimRequest, ClaimedJob, CompleteRequest, RunnableStep } from '../../src/backends/backend.js';
import type { SqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js';
import type { Task } from '../../src/api/task.js';
import { views } from '../../src/api/views.js';
import { TestClock } from '../../src/clock.js';
import { CompletionBatcher } from '../../src/engine/completion-batcher.js';
import type { ExecutionHooks } from '../../src/engine/executor.js';
import type { TaskView } from '../../src/engine/handler-contract.js';
import type { RegisteredHandler } from '../../src/engine/handler-registry.js';
import { leaseOf } from '../../src/engine/lease.js';
import { StepRunner } from '../../src/engine/step-runner.js';
import type { HostedRunner, StepRunnerHost } from '../../src/engine/step-runner-host.js';
import { Recorder, oneStepWorkflow, openStore, registerNode, sleep, taskStatuses, turns } from './harness.js';

const NODE = 'node-runner';

class TestHost implements StepRunnerHost {
  readonly nodeId = NODE;
  readonly queues = ['default'];
  readonly views = views;
  readonly batcher: CompletionBatcher;
  readonly executionHooks: ExecutionHooks;
  accepting = true;
  leaseFresh = true;
  readonly runners: StepRunner[] = [];
  readonly released: ClaimedJob[] = [];
  readonly problems: unknown[] = [];

  constructor(
    readonly backend: Backend,
    readonly clock: TestClock,
    readonly maxBatch: number,
  ) {
    this.batcher = new CompletionBatcher(backend, {
      maxBatch,
      maxDelayMs: 5,
      clock,
      onResult: () => undefined,
      onError: (error) => this.problems.push(error),
    });
    this.executionHooks = {
      onTaskStart: (event) => this.batcher.addEvent(event),
      begin: () => undefined,
      end: () => undefined,
      isolate: () => Promise.reject(new Error('no isolation in these tests')),
    };
  }

  activeJobs(): number {
    return this.runners.reduce((total, runner) => total + runner.active, 0);
  }

  shouldYield(): boolean {
    return false;
  }

  onRunnerIdle(_runner: HostedRunner): void {
    if (this.activeJobs() === 0) this.batcher.flushSoon(0);
  }

  onRateLimited(_runner: HostedRunner, _delayMs: number): void {}

  onClaimError(_runner: HostedRunner, error: unknown): void {
    this.problems.push(error);
  }

  releaseJobs(jobs: readonly ClaimedJob[]): void {
    this.released.push(...jobs);
    this.backend.release(jobs.map(leaseOf)).catch((error: unknown) => this.problems.push(error));
  }

  reportCorrupt(error: unknown): void {
    this.problems.push(error);
  }

  runner(step: RunnableStep, handler: RegisteredHandler): StepRunner {
    const runner = new StepRunner(this, step, handler);
    this.runners.push(runner);
    return runner;
  }
}

/** A handler whose task `seq` takes `durationOf(seq)` ms on the test clock; counts busy lanes. */
function timedHandler(clock: TestClock, durationOf: (seq: number) => number) {
  const state = { busy: 0, started: [] as number[], finished: [] as number[] };
  const handler: RegisteredHandler = {
    key: 'engine-test',
    name: 'work',
    moduleUrl: undefined,
    shareableModuleUrl: undefined,
    definedAt: undefined,
    entryUrl: undefined,
    handler: async (task: TaskView) => {
      const { seq } = task as Task;
      state.busy++;
      state.started.push(seq);
      const ms = durationOf(seq);
      if (ms > 0) await sleep(clock, ms);
      state.busy--;
      state.finished.push(seq);
      return seq;
    },
  };
  return { handler, state };
}

describe('StepRunner', () => {
  let clock: TestClock;
  let store: SqliteBackend;
  let recorder: Recorder;

  beforeEach(async () => {
    clock = new TestClock();
    store = await openStore(clock);
    recorder = new Recorder(store);
    await registerNode(store, NODE);
  });

  afterEach(async () => {
    await store.close();
  });

  /** Limits of every claim the runner sent, alone or with a completion. */
  const claimLimits = (): number[] =>
    recorder.calls.flatMap(({ method, args }) => {
      if (method === 'claim') return [(args[0] as ClaimRequest).limit];
      if (method === 'complete') {
        const next = (args[0] as CompleteRequest).next;
        return next === undefined ? [] : [next.limit];
      }
      return [];
    });

  /** Advances in ticks until every task succeeded; returns the busy lanes seen at each tick while tasks were left to start. */
  async function runToEnd(step: RunnableStep, state: { busy: number; started: number[] }, tasks: number, tickMs: number): Promise<number[]> {
    const busyWhileWorkLeft: number[] = [];
    for (let tick = 0; tick < 10_000; tick++) {
      if (state.started.length < tasks) busyWhileWorkLeft.push(state.busy);
      const statuses = await taskStatuses(store, step);
      if (statuses.every((status) => status === 'succeeded')) return busyWhileWorkLeft;
      await clock.advance(tickMs);
    }
    throw new Error('the step never finished');
  }

  it.each([
    ['tasks of different lengths', (seq: number) => [0, 100, 150, 200, 120, 170, 130, 110, 160, 140][seq] ?? 100],
    ['tasks that all end together', () => 100],
  ])('refills a lane the moment it frees up (%s)', async (_name, durationOf) => {
    const host = new TestHost(recorder.backend, clock, 1_000);
    const step = await oneStepWorkflow(store, { tasks: 9, options: { taskConcurrency: 3 } });
    const { handler, state } = timedHandler(clock, durationOf);
    host.runner(step, handler).kick();
    await clock.advance(0);

    const busy = await runToEnd(step, state, 9, 10);
    expect(busy.length).toBeGreaterThan(10);
    // Every tick while tasks were waiting to start, all three lanes worked.
    expect(busy.filter((lanes) => lanes !== 3)).toEqual([]);
    expect(state.started).toHaveLength(9);
    expect(host.problems).toEqual([]);
  });

  it('refills the lanes that freed up while its claim was in flight', async () => {
    const host = new TestHost(recorder.backend, clock, 1_000);
    const step = await oneStepWorkflow(store, { tasks: 9, options: { taskConcurrency: 3 } });
    const { handler, state } = timedHandler(clock, () => 100);
    host.runner(step, handler).kick();
    await clock.advance(0);
    expect(state.busy).toBe(3);

    // The first lane to free up asks for one job; the store is slow to answer, and meanwhile
    // the other two lanes free up too.
    const slow = recorder.holdNext('complete');
    await clock.advance(100);
    await slow.reached;
    expect(state.busy).toBe(0);
    slow.release();
    await turns(clock);
    expect(state.busy).toBe(3);
  });

  it('holds one job per lane while jobs are slow (other nodes get their share)', async () => {
    const host = new TestHost(recorder.backend, clock, 50);
    const step = await oneStepWorkflow(store, { tasks: 12, options: { taskConcurrency: 2 } });
    const { handler, state } = timedHandler(clock, () => 100);
    host.runner(step, handler).kick();
    await runToEnd(step, state, 12, 10);

    const limits = claimLimits();
    expect(limits[0]).toBe(2);
    expect(Math.max(...limits)).toBeLessThanOrEqual(2);
  });

  it('holds up to maxBatch jobs once jobs are quick, so round trips stop dominating', async () => {
    const host = new TestHost(recorder.backend, clock, 50);
    const step = await oneStepWorkflow(store, { tasks: 300, options: { taskConcurrency: 2 } });
    const { handler, state } = timedHandler(clock, () => 0);
    host.runner(step, handler).kick();
    await runToEnd(step, state, 300, 1);

    const limits = claimLimits();
    expect(limits[0]).toBe(2); // nothing known yet: one job per lane
    expect(Math.max(...limits)).toBeGreaterThan(40); // maxBatch less what it still holds
    expect(Math.max(...limits)).toBeLessThanOrEqual(50);
    // Batches, not a round trip per job.
    expect(recorder.count('claim') + recorder.count('complete')).toBeLessThan(30);
  });

  it('adapts when jobs that were slow turn quick', async () => {
    const host = new TestHost(recorder.backend, clock, 50);
    const step = await oneStepWorkflow(store, { tasks: 200, options: { taskConcurrency: 2 } });
    const { handler, state } = timedHandler(clock, (seq) => (seq <= 6 ? 100 : 0));
    host.runner(step, handler).kick();
    await clock.advance(299); // four slow ones ran, two more run
    expect(state.finished).toHaveLength(4);
    const whileSlow = claimLimits();
    expect(Math.max(...whileSlow)).toBeLessThanOrEqual(2);

    await runToEnd(step, state, 200, 1);
    // The hold target follows the moving average of job durations up to maxBatch: claims grow
    // from one per lane to half of maxBatch (it refills at half).
    expect(Math.max(...claimLimits())).toBeGreaterThanOrEqual(25);
  });

  it('stopped, it hands back the claimed jobs it never started and claims no more', async () => {
    const host = new TestHost(recorder.backend, clock, 20);
    const step = await oneStepWorkflow(store, { tasks: 30, options: { taskConcurrency: 1 } });
    // The first job is quick (so the runner holds a batch), the rest slow (so the batch waits).
    const { handler, state } = timedHandler(clock, (seq) => (seq === 1 ? 0 : 100));
    const runner = host.runner(step, handler);
    runner.kick();
    await clock.advance(0);
    expect(state.started).toEqual([1, 2]);
    expect(runner.active).toBe(20); // job 2 running, 19 claimed and waiting

    const unstarted = runner.stop();
    expect(unstarted.map((job) => job.seq)).toEqual(Array.from({ length: 19 }, (_, i) => i + 3));
    host.releaseJobs(unstarted);
    const claimsBefore = claimLimits().length;

    await clock.advance(100); // job 2 ends: its outcome is kept, nothing more is claimed
    await clock.advance(10);
    expect(state.finished).toEqual([1, 2]);
    expect(claimLimits()).toHaveLength(claimsBefore);
    expect((await taskStatuses(store, step)).slice(0, 2)).toEqual(['succeeded', 'succeeded']);

    // Handed back without an attempt counted: another node gets them as fresh jobs.
    await registerNode(store, 'other');
    const { jobs } = await store.claim({ nodeId: 'other', workflowId: step.workflowId, stepId: step.stepId, limit: 100 });
    expect(jobs.map((job) => job.seq)).toEqual(Array.from({ length: 28 }, (_, i) => i + 3));
    expect(jobs.every((job) => job.failedCount === 0)).toBe(true);
  });

  it('stopped while a claim is in flight, it hands back what that claim brings', async () => {
    const host = new TestHost(recorder.backend, clock, 20);
    const step = await oneStepWorkflow(store, { tasks: 5, options: { taskConcurrency: 2 } });
    const { handler, state } = timedHandler(clock, () => 100);
    const runner = host.runner(step, handler);
    const claim = recorder.holdNext('claim');
    runner.kick();
    await claim.reached;
    expect(runner.stop()).toEqual([]);
    claim.release();
    await clock.advance(0);

    expect(state.started).toEqual([]);
    expect(host.released.map((job) => job.seq)).toEqual([1, 2]);
    await registerNode(store, 'other');
    const { jobs } = await store.claim({ nodeId: 'other', workflowId: step.workflowId, stepId: step.stepId, limit: 10 });
    expect(jobs.map((job) => [job.seq, job.failedCount])).toEqual([[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]]);
  });

  it('starts no job while the lease is stale, and starts them once kicked after a renewal', async () => {
    const host = new TestHost(recorder.backend, clock, 20);
    const step = await oneStepWorkflow(store, { tasks: 4, options: { taskConcurrency: 2 } });
    const { handler, state } = timedHandler(clock, () => 100);
    const runner = host.runner(step, handler);
    host.leaseFresh = false;
    runner.kick();
    await clock.advance(50);
    expect(state.started).toEqual([]);
    expect(runner.active).toBe(2); // claimed, held for when the lease is renewed

    host.leaseFresh = true;
    runner.kick();
    await clock.advance(0);
    expect(state.started).toEqual([1, 2]);
  });
});
