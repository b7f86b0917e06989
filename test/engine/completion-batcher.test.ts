/**
 * CompletionBatcher against the real SQLite store on a TestClock: how outcomes are grouped
 * into round trips, how long they wait, in which order they land, and what a failed flush does.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClaimedJob, CompleteRequest, RunnableStep } from '../../src/backends/backend.js';
import type { SqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js';
import { TestClock } from '../../src/clock.js';
import { CompletionBatcher } from '../../src/engine/completion-batcher.js';
import type { BatcherOptions } from '../../src/engine/completion-batcher.js';
import { Recorder, oneStepWorkflow, openStore, registerNode, succeeded, taskStatuses, turns } from './harness.js';

const NODE = 'node-batcher';

describe('CompletionBatcher', () => {
  let clock: TestClock;
  let store: SqliteBackend;
  let recorder: Recorder;
  let step: RunnableStep;
  let jobs: ClaimedJob[];
  let errors: unknown[];

  beforeEach(async () => {
    clock = new TestClock();
    store = await openStore(clock);
    recorder = new Recorder(store);
    await registerNode(store, NODE);
    step = await oneStepWorkflow(store, { tasks: 10, options: { taskConcurrency: 10 } });
    ({ jobs } = await store.claim({ nodeId: NODE, workflowId: step.workflowId, stepId: step.stepId, limit: 10 }));
    expect(jobs).toHaveLength(10);
    errors = [];
  });

  afterEach(async () => {
    await store.close();
  });

  function batcher(options: Partial<BatcherOptions> = {}): CompletionBatcher {
    return new CompletionBatcher(recorder.backend, {
      maxBatch: 4,
      maxDelayMs: 100,
      clock,
      onResult: () => undefined,
      onError: (error) => errors.push(error),
      ...options,
    });
  }

  const completions = (): CompleteRequest[] => recorder.argsOf('complete').map(([request]) => request as CompleteRequest);
  const sentSeqs = (): number[][] => completions().map((request) => request.outcomes.map((outcome) => outcome.seq));

  it('flushes as soon as maxBatch outcomes wait, without waiting for the delay', async () => {
    const subject = batcher();
    for (const job of jobs.slice(0, 3)) {
      subject.push(succeeded(job));
      subject.settle(false);
    }
    await turns(clock);
    expect(recorder.count('complete')).toBe(0);

    subject.push(succeeded(jobs[3]!));
    subject.settle(false);
    await turns(clock);
    expect(sentSeqs()).toEqual([[1, 2, 3, 4]]);
    expect(clock.monotonic()).toBe(0);
    expect((await taskStatuses(store, step)).filter((status) => status === 'succeeded')).toHaveLength(4);
  });

  it('holds an outcome at most maxDelayMs on the clock while other jobs run', async () => {
    const subject = batcher();
    subject.push(succeeded(jobs[0]!));
    subject.settle(false);
    await clock.advance(99);
    expect(recorder.count('complete')).toBe(0);

    // A later outcome rides along with the first: it does not push the deadline back.
    subject.push(succeeded(jobs[1]!));
    subject.settle(false);
    await clock.advance(1);
    expect(sentSeqs()).toEqual([[1, 2]]);
    expect((await taskStatuses(store, step)).slice(0, 2)).toEqual(['succeeded', 'succeeded']);
  });

  it('flushes at once when the node is idle: nothing to batch with', async () => {
    const subject = batcher();
    subject.push(succeeded(jobs[0]!));
    subject.settle(true);
    await turns(clock, 1);
    expect(sentSeqs()).toEqual([[1]]);
  });

  it('keeps one flush in flight at a time, so outcomes land in the order they came', async () => {
    const subject = batcher();
    const order: string[] = [];
    const first = recorder.holdNext('complete');
    subject.push(succeeded(jobs[0]!));
    const firstFlush = subject.flush().then(() => order.push('first landed'));
    await first.reached;

    subject.push(succeeded(jobs[1]!));
    const secondFlush = subject.flush().then(() => order.push('second landed'));
    await turns(clock);
    expect(recorder.count('complete')).toBe(1); // the second waits for the first
    expect(subject.busy).toBe(true);

    first.release();
    await Promise.all([firstFlush, secondFlush]);
    expect(order).toEqual(['first landed', 'second landed']);
    expect(sentSeqs()).toEqual([[1], [2]]);
    expect(subject.busy).toBe(false);
  });

  it('keeps the outcomes of a failed flush, in order, and retries with growing backoff', async () => {
    const subject = batcher();
    const first = recorder.holdNext('complete');
    recorder.failNext('complete', 2);
    subject.push(succeeded(jobs[0]!));
    subject.settle(true);
    await first.reached;
    // Arrives while the first flush is in flight: once that fails, it goes out behind it.
    subject.push(succeeded(jobs[1]!));
    first.release();
    await turns(clock);
    expect(recorder.count('complete')).toBe(1);
    expect(errors).toHaveLength(1);
    expect(subject.pendingIds()).toEqual([jobs[0]!.id, jobs[1]!.id]);

    await clock.advance(99);
    expect(recorder.count('complete')).toBe(1);
    await clock.advance(1); // first retry, 100 ms after the first failure; fails too
    expect(recorder.count('complete')).toBe(2);
    expect(errors).toHaveLength(2);

    await clock.advance(199);
    expect(recorder.count('complete')).toBe(2);
    await clock.advance(1); // second retry, 200 ms after the second failure
    expect(sentSeqs()).toEqual([[1], [1, 2], [1, 2]]);
    expect(subject.pendingIds()).toEqual([]);
    expect((await taskStatuses(store, step)).slice(0, 2)).toEqual(['succeeded', 'succeeded']);

    // Recovered: the next outcome waits the normal delay again, not a backoff.
    subject.push(succeeded(jobs[2]!));
    subject.settle(false);
    await clock.advance(100);
    expect(recorder.count('complete')).toBe(4);
  });

  it('a wake-up after a failure retries at once instead of waiting out the backoff', async () => {
    const subject = batcher();
    recorder.failNext('complete', 1);
    subject.push(succeeded(jobs[0]!));
    subject.settle(true);
    await turns(clock);
    expect(recorder.count('complete')).toBe(1);

    subject.retryNow();
    await turns(clock);
    expect(recorder.count('complete')).toBe(2);
    expect(clock.monotonic()).toBe(0);
    expect((await taskStatuses(store, step))[0]).toBe('succeeded');
  });

  it('claims the next batch of the step in the same round trip as the outcomes', async () => {
    const more = await oneStepWorkflow(store, { tasks: 3, options: { taskConcurrency: 3 } });
    const subject = batcher();
    subject.push(succeeded(jobs[0]!));
    const claimed = await subject.flush({ nodeId: NODE, workflowId: more.workflowId, stepId: more.stepId, limit: 2 });
    expect(recorder.count('complete')).toBe(1);
    expect(recorder.count('claim')).toBe(0);
    expect(claimed?.jobs.map((job) => job.seq)).toEqual([1, 2]);
  });
});
