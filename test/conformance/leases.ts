/**
 * Leases, fencing and recovery, exercised through the Backend contract directly: a second
 * "node" is registered by hand so the test can hold, lose and race leases on purpose. Its
 * lease is long and is ended in the store (BackendUnderTest.expireNode), never waited for.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import type { Backend, ClaimedJob } from '../../src/backends/backend.js';
import type { Conformance } from './context.js';

const echo = new StepHandler<unknown, number, number>({ name: 'leases-echo', handler: (task) => task.data });

async function backendOf(): Promise<Backend> {
  return (await DeFlow.getInstance().services()).backend;
}

/** A workflow whose single step nobody in this process runs (worker: false), so the test claims by hand. */
async function idleWorkflow(tasks: number[], options: { taskMaxFailCount?: number } = {}): Promise<string> {
  const workflow = WorkFlow.create('by-hand').addStep({ step: echo, tasks, options }).run();
  await workflow.started();
  return workflow.id;
}

async function claimAll(backend: Backend, nodeId: string, workflowId: string, limit = 100): Promise<ClaimedJob[]> {
  const { jobs } = await backend.claim({ nodeId, workflowId, stepId: '1', limit });
  return jobs;
}

function succeed(job: ClaimedJob) {
  return { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token, status: 'succeeded' as const, resultJson: '1', error: null };
}

export function leases(t: Conformance): void {
  describe('Leases and fencing', () => {
    it('never hands the same job to two nodes', async () => {
      await t.register({ worker: false });
      const backend = await backendOf();
      const tasks = Array.from({ length: 200 }, (_, i) => i);
      const workflowId = await idleWorkflow(tasks);
      await backend.registerNode({ id: 'node-a', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      await backend.registerNode({ id: 'node-b', host: 'test', pid: 2, handlers: [], leaseMs: 60_000 });
      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, i) => backend.claim({ nodeId: i % 2 === 0 ? 'node-a' : 'node-b', workflowId, stepId: '1', limit: 7 })),
      );
      const ids = claims.flatMap((claim) => claim.jobs.map((job) => job.seq));
      expect(ids).toHaveLength(140);
      expect(new Set(ids).size).toBe(140);
    });

    it('refuses a late result once the lease was taken over, and applies a result once', async () => {
      await t.register({ worker: false, checkProcessQueueInterval: 0 });
      const backend = await backendOf();
      const workflowId = await idleWorkflow([1, 2], { taskMaxFailCount: 3 });
      await backend.registerNode({ id: 'slowpoke', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      const jobs = await claimAll(backend, 'slowpoke', workflowId);
      expect(jobs).toHaveLength(2);
      await t.backend.expireNode(t.options(), 'slowpoke'); // the lease runs out without a heartbeat
      const recovered = await backend.recoverExpired(100);
      expect(recovered.recovered).toBe(2);
      expect(recovered.nodesRemoved).toBe(1);
      const late = await backend.complete({ outcomes: jobs.map(succeed) });
      expect(late.stale.sort()).toEqual(jobs.map((job) => job.id).sort());
      // The recovered jobs count one node loss (not a failed attempt), with an error that says why.
      const tasks = await backend.getTasks(workflowId, '1', { afterSeq: 0, limit: 10 });
      expect(tasks.map((task) => [task.status, task.failedCount, task.lostCount])).toEqual([
        ['ready', 0, 1],
        ['ready', 0, 1],
      ]);
      expect(tasks[0]?.error).toMatchObject({ code: 'ERR_NODE_LOST' });
      // A live node takes them and its results are applied exactly once.
      await backend.registerNode({ id: 'fresh', host: 'test', pid: 2, handlers: [], leaseMs: 60_000 });
      const again = await claimAll(backend, 'fresh', workflowId);
      expect(again.map((job) => job.failedCount)).toEqual([0, 0]);
      const first = await backend.complete({ outcomes: again.map(succeed) });
      expect(first.stale).toEqual([]);
      const second = await backend.complete({ outcomes: again.map(succeed) });
      expect(second.stale).toHaveLength(2);
      expect((await backend.getWorkflow(workflowId))?.status).toBe('succeeded');
    });

    it('hands back claimed jobs without counting an attempt', async () => {
      await t.register({ worker: false });
      const backend = await backendOf();
      const workflowId = await idleWorkflow([1, 2, 3]);
      await backend.registerNode({ id: 'quitter', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      const jobs = await claimAll(backend, 'quitter', workflowId, 2);
      await backend.release(jobs.map(({ id, workflowId: w, stepId, kind, seq, token }) => ({ id, workflowId: w, stepId, kind, seq, token })));
      await backend.registerNode({ id: 'taker', host: 'test', pid: 2, handlers: [], leaseMs: 60_000 });
      const retaken = await claimAll(backend, 'taker', workflowId);
      expect(retaken.map((job) => [job.seq, job.failedCount]).sort()).toEqual([
        [1, 0],
        [2, 0],
        [3, 0],
      ]);
    });

    it('declares a node dead after its lease, and it registers again when it learns so', async () => {
      await t.register({ worker: false, checkProcessQueueInterval: 0 });
      const backend = await backendOf();
      await backend.registerNode({ id: 'sleepy', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      expect(await backend.heartbeat('sleepy', 60_000)).toEqual({ alive: true });
      await t.backend.expireNode(t.options(), 'sleepy');
      await backend.recoverExpired(10);
      expect(await backend.heartbeat('sleepy', 60_000)).toEqual({ alive: false });
      expect((await backend.listNodes()).map((node) => node.id)).not.toContain('sleepy');
    });

    it('recovers the work of a node that stopped heartbeating, with taskTimeout 0', async () => {
      await t.register({ worker: false, checkProcessQueueInterval: 0 });
      const backend = await backendOf();
      const workflowId = await idleWorkflow([5, 6], { taskMaxFailCount: 2 });
      await backend.registerNode({ id: 'ghost', host: 'test', pid: 1, handlers: [], leaseMs: 300 });
      expect(await claimAll(backend, 'ghost', workflowId)).toHaveLength(2);
      await DeFlow.unregister();
      // A worker with recovery on finds the ghost's jobs and finishes the workflow.
      await t.register({ leaseMs: 2_000, checkProcessQueueInterval: 100 });
      const handle = await WorkFlow.getById(workflowId);
      const result = await handle?.done();
      expect(result?.steps[0]?.tasks.map((task) => [task.result, task.failedCount, task.lostCount])).toEqual([
        [5, 0, 1],
        [6, 0, 1],
      ]);
    });
  });
}
