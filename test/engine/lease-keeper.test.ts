/**
 * LeaseKeeper against the real SQLite store on a TestClock: heartbeat cadence, when the node
 * considers its lease fresh, reconciliation of held jobs, being declared dead, and the cadence
 * of recovery and retention rounds.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js';
import { TestClock } from '../../src/clock.js';
import { LeaseKeeper } from '../../src/engine/lease-keeper.js';
import type { LeaseKeeperOptions } from '../../src/engine/lease-keeper.js';
import { Recorder, oneStepWorkflow, openStore, registerNode } from './harness.js';

const NODE = 'node-lease';
const LEASE_MS = 3_000;

describe('LeaseKeeper', () => {
  let clock: TestClock;
  let store: SqliteBackend;
  let recorder: Recorder;
  let keeper: LeaseKeeper | undefined;
  let declaredDead: number;
  let renewed: number;
  let recovered: number[];
  let errors: string[];

  beforeEach(async () => {
    clock = new TestClock();
    store = await openStore(clock);
    recorder = new Recorder(store);
    await registerNode(store, NODE, LEASE_MS);
    declaredDead = 0;
    renewed = 0;
    recovered = [];
    errors = [];
  });

  afterEach(async () => {
    keeper?.stop();
    keeper = undefined;
    await store.close();
  });

  function start(options: Partial<LeaseKeeperOptions> = {}): LeaseKeeper {
    keeper = new LeaseKeeper(recorder.backend, {
      nodeId: NODE,
      leaseMs: LEASE_MS,
      recoverIntervalMs: 0,
      sweepIntervalMs: 5_000,
      clock,
      heldJobs: () => [],
      onDeclaredDead: () => declaredDead++,
      onRenewed: () => renewed++,
      onRecovered: (count) => recovered.push(count),
      onError: (_error, during) => errors.push(during),
      ...options,
    });
    keeper.start();
    return keeper;
  }

  const heartbeats = (): unknown[][] => recorder.argsOf('heartbeat');

  it('sends a heartbeat every leaseMs / 3, each extending the lease in the store', async () => {
    start();
    await clock.advance(999);
    expect(heartbeats()).toHaveLength(0);
    await clock.advance(1);
    expect(heartbeats()).toEqual([[NODE, LEASE_MS, undefined]]);
    await clock.advance(3_000);
    expect(heartbeats()).toHaveLength(4);

    const [node] = await store.listNodes();
    expect(node?.leaseExpiresAt).toBe(clock.now() + LEASE_MS);
  });

  it('is fresh until 90% of the lease passed without a heartbeat, and again after one goes through', async () => {
    const subject = start();
    expect(subject.fresh).toBe(true);
    recorder.failNext('heartbeat', 2); // at 1000 and 2000
    await clock.advance(2_699);
    expect(subject.fresh).toBe(true);
    await clock.advance(1);
    expect(subject.fresh).toBe(false);
    expect(errors).toEqual(['heartbeat', 'heartbeat']);
    expect(renewed).toBe(0);

    await clock.advance(300); // the heartbeat at 3000 goes through
    expect(subject.fresh).toBe(true);
    expect(renewed).toBe(1);
    await clock.advance(1_000);
    expect(renewed).toBe(1); // only a heartbeat after a stale spell counts as a renewal
  });

  it('counts freshness from when a heartbeat was sent, not from when its answer came', async () => {
    const subject = start();
    const slow = recorder.holdNext('heartbeat');
    await clock.advance(1_000);
    await slow.reached;
    recorder.holdNext('heartbeat'); // the next one never answers within this test
    await clock.advance(500);
    slow.release();
    await clock.advance(0);
    // Sent at 1000: the node may trust its lease until 1000 + 2700, however late the answer came.
    await clock.advance(2_199); // t = 3699
    expect(subject.fresh).toBe(true);
    await clock.advance(1); // t = 3700
    expect(subject.fresh).toBe(false);
  });

  it('passes the ids of held jobs when asked to reconcile, and the store hands back the others', async () => {
    const step = await oneStepWorkflow(store, { tasks: 2, options: { taskConcurrency: 2 } });
    const { jobs } = await store.claim({ nodeId: NODE, workflowId: step.workflowId, stepId: step.stepId, limit: 2 });
    const [kept, lost] = jobs;
    const subject = start({ heldJobs: () => [kept!.id] });

    subject.requestReconcile();
    await clock.advance(1_000);
    await clock.advance(1_000);
    expect(heartbeats()).toEqual([
      [NODE, LEASE_MS, [kept!.id]],
      [NODE, LEASE_MS, undefined], // reconciled once; the next heartbeat is a plain one
    ]);

    // The job this node did not list went back to the queue (no attempt counted).
    await registerNode(store, 'other');
    const { jobs: retaken } = await store.claim({ nodeId: 'other', workflowId: step.workflowId, stepId: step.stepId, limit: 2 });
    expect(retaken.map((job) => [job.seq, job.failedCount])).toEqual([[lost!.seq, 0]]);
  });

  it('reconciles after a failed heartbeat, waiting while the held jobs cannot be known', async () => {
    const known: { held?: string[] } = {};
    start({ heldJobs: () => known.held });
    recorder.failNext('heartbeat', 1);
    await clock.advance(1_000); // fails: the next heartbeat must reconcile
    await clock.advance(1_000); // a claim is in flight: not knowable, reconcile stays due
    known.held = ['7'];
    await clock.advance(1_000);
    await clock.advance(1_000);
    expect(heartbeats().map((args) => args[2])).toEqual([undefined, undefined, ['7'], undefined]);
  });

  it('calls onDeclaredDead when the store answers that the node was declared dead', async () => {
    const subject = start();
    recorder.failNext('heartbeat', 3); // cut off at 1000, 2000, 3000: the lease runs out at 3000
    await clock.advance(3_500);
    const other = await store.recoverExpired(100); // another node's recovery round
    expect(other.nodesRemoved).toBe(1);
    expect(declaredDead).toBe(0);

    await clock.advance(500); // the heartbeat at 4000 reaches the store
    expect(declaredDead).toBe(1);
    expect(subject.fresh).toBe(false); // a refused heartbeat renews nothing
    expect(renewed).toBe(0);
  });

  it('runs recovery every recoverIntervalMs and retention every sweepIntervalMs', async () => {
    start({ recoverIntervalMs: 500, sweepIntervalMs: 2_500 });
    await clock.advance(4_999);
    expect(recorder.count('recoverExpired')).toBe(9);
    expect(recorder.count('sweep')).toBe(1);
    await clock.advance(1);
    expect(recorder.count('recoverExpired')).toBe(10);
    expect(recorder.count('sweep')).toBe(2);
  });

  it('runs neither when recoverIntervalMs is 0', async () => {
    start({ recoverIntervalMs: 0 });
    await clock.advance(20_000);
    expect(recorder.count('recoverExpired')).toBe(0);
    expect(recorder.count('sweep')).toBe(0);
    expect(heartbeats()).toHaveLength(20);
  });

  it('takes back the jobs of a node whose lease expired and says how many', async () => {
    const step = await oneStepWorkflow(store, { tasks: 2, options: { taskConcurrency: 2, taskMaxFailCount: 3 } });
    await registerNode(store, 'dead', 1_000);
    await store.claim({ nodeId: 'dead', workflowId: step.workflowId, stepId: step.stepId, limit: 2 });
    start({ recoverIntervalMs: 500 });

    await clock.advance(1_000); // the dead node's lease ends at 1000
    expect(recovered).toEqual([]);
    await clock.advance(500);
    expect(recovered).toEqual([2]);
    await clock.advance(2_000);
    expect(recovered).toEqual([2]);
  });

  it('does not start a round while the previous one still waits on the store', async () => {
    start({ recoverIntervalMs: 500 });
    const slow = recorder.holdNext('recoverExpired');
    await clock.advance(500);
    await slow.reached;
    await clock.advance(1_500);
    expect(recorder.count('recoverExpired')).toBe(1);
    slow.release();
    await clock.advance(500);
    expect(recorder.count('recoverExpired')).toBe(2);
  });

  it('stop() cancels every timer', async () => {
    const subject = start({ recoverIntervalMs: 500 });
    await clock.advance(1_000);
    subject.stop();
    expect(clock.pending).toBe(0);
    const before = recorder.calls.length;
    await clock.advance(10_000);
    expect(recorder.calls.length).toBe(before);
  });
});
