/**
 * The node-loss rule (docs/backends/step-machine.md): a job lost with its node counts in
 * lostCount, never in failedCount, and fails for good (ERR_NODE_LOST) only once it was lost
 * maxNodeLosses times. Nodes are registered by hand and their leases ended in the store
 * (BackendUnderTest.expireNode), never waited for.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import type { Backend, ClaimedJob } from '../../src/backends/backend.js';
import type { Conformance } from './context.js';

const echo = new StepHandler<unknown, number, number>({ name: 'losses-echo', handler: (task) => task.data });
const hooked = new StepHandler<unknown, number, number>({ name: 'losses-hooked', beforeAll: () => undefined, handler: (task) => task.data });

async function backendOf(): Promise<Backend> {
  return (await DeFlow.getInstance().services()).backend;
}

function succeed(job: ClaimedJob) {
  return { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token, status: 'succeeded' as const, resultJson: '1', error: null };
}

export function nodeLosses(t: Conformance): void {
  describe('Node losses', () => {
    let nodes = 0;
    /** Registers a fresh node, lets it claim up to `limit` jobs of the step, then loses it. */
    async function loseNode(backend: Backend, workflowId: string, stepId: string, limit = 100): Promise<ClaimedJob[]> {
      const nodeId = `lost-${++nodes}`;
      await backend.registerNode({ id: nodeId, host: 'test', pid: nodes, handlers: [], leaseMs: 60_000 });
      const { jobs } = await backend.claim({ nodeId, workflowId, stepId, limit });
      await t.backend.expireNode(t.options(), nodeId);
      await backend.recoverExpired(100);
      return jobs;
    }

    async function tasksOf(backend: Backend, workflowId: string, stepId = '1') {
      return backend.getTasks(workflowId, stepId, { afterSeq: 0, limit: 100 });
    }

    it('does not count node losses as failed attempts: with taskMaxFailCount 1, a task lost twice still succeeds', async () => {
      await t.register({ worker: false, checkProcessQueueInterval: 0 });
      const backend = await backendOf();
      const workflow = WorkFlow.create('rolling-restart').addStep({ step: echo, tasks: [1, 2] }).run();
      await workflow.started();
      const workflowId = workflow.id;
      // First loss: the tasks were fresh (leased in a range); second: they were leased alone.
      expect(await loseNode(backend, workflowId, '1')).toHaveLength(2);
      let tasks = await tasksOf(backend, workflowId);
      expect(tasks.map((task) => [task.status, task.failedCount, task.lostCount])).toEqual([
        ['ready', 0, 1],
        ['ready', 0, 1],
      ]);
      expect(tasks[0]?.error).toMatchObject({ code: 'ERR_NODE_LOST', step: 'losses-echo', task: 1, lostCount: 1, maxNodeLosses: 3 });
      expect(tasks[0]?.error?.message).toMatch(/^task 1 of step "losses-echo" was lost with its node \(1 of maxNodeLosses: 3\)/);
      expect(await loseNode(backend, workflowId, '1')).toHaveLength(2);
      tasks = await tasksOf(backend, workflowId);
      expect(tasks.map((task) => [task.status, task.failedCount, task.lostCount])).toEqual([
        ['ready', 0, 2],
        ['ready', 0, 2],
      ]);
      // A live node runs them: the attempt it gets is still the first counted one, and it knows
      // how often the task was lost before.
      await backend.registerNode({ id: 'survivor', host: 'test', pid: 99, handlers: [], leaseMs: 60_000 });
      const { jobs } = await backend.claim({ nodeId: 'survivor', workflowId, stepId: '1', limit: 10 });
      expect(jobs.map((job) => [job.failedCount, job.lostCount])).toEqual([
        [0, 2],
        [0, 2],
      ]);
      expect((await backend.complete({ outcomes: jobs.map(succeed) })).stale).toEqual([]);
      expect((await backend.getWorkflow(workflowId))?.status).toBe('succeeded');
      tasks = await tasksOf(backend, workflowId);
      expect(tasks.map((task) => [task.status, task.failedCount, task.lostCount])).toEqual([
        ['succeeded', 0, 2],
        ['succeeded', 0, 2],
      ]);
    });

    it('fails a task for good with ERR_NODE_LOST once it was lost maxNodeLosses times, and fails its workflow', async () => {
      await t.register({ worker: false, checkProcessQueueInterval: 0 });
      const backend = await backendOf();
      const workflow = WorkFlow.create('poison').addStep({ name: 'poison', step: echo, tasks: [1, 2], options: { maxNodeLosses: 2 } }).run();
      await workflow.started();
      const workflowId = workflow.id;
      await loseNode(backend, workflowId, '1'); // both tasks, fresh
      await loseNode(backend, workflowId, '1', 1); // task 1 only, leased alone: its second loss
      const tasks = await tasksOf(backend, workflowId);
      expect(tasks.map((task) => [task.status, task.failedCount, task.lostCount])).toEqual([
        ['failed', 0, 2],
        ['ready', 0, 1],
      ]);
      expect(tasks[0]?.error).toMatchObject({ name: 'NodeLostError', code: 'ERR_NODE_LOST', step: 'poison', task: 1, lostCount: 2, maxNodeLosses: 2 });
      expect(tasks[0]?.error?.message).toMatch(/^task 1 of step "poison" was lost with its node 2 times \(maxNodeLosses: 2\): it may crash its process/);
      // The step runs its other task, then fails like any step with a failed task.
      await backend.registerNode({ id: 'finisher', host: 'test', pid: 99, handlers: [], leaseMs: 60_000 });
      const { jobs } = await backend.claim({ nodeId: 'finisher', workflowId, stepId: '1', limit: 10 });
      await backend.complete({ outcomes: jobs.map(succeed) });
      const record = await backend.getWorkflow(workflowId);
      expect(record?.status).toBe('failed');
      expect(record?.error?.message).toMatch(/lost with its node 2 times \(maxNodeLosses: 2\)/);
      expect((await backend.getStep(workflowId, '1'))?.error).toMatchObject({ code: 'ERR_TASK_FAILED', task: 1, failed: 1, total: 2 });
    });

    it('fails a hook job lost maxNodeLosses times, and runs the failure branch', async () => {
      await t.register({ worker: false, checkProcessQueueInterval: 0 });
      const backend = await backendOf();
      const workflow = WorkFlow.create('poison-hook')
        .addStep({ name: 'crashy', step: hooked, tasks: [1], options: { maxNodeLosses: 1 } })
        .addStep({ name: 'rescue', step: echo, tasks: [2], dependsOn: ['crashy'], when: 'failure' })
        .run();
      await workflow.started();
      const lost = await loseNode(backend, workflow.id, '1');
      expect(lost.map((job) => [job.kind, job.lostCount])).toEqual([['before', 0]]);
      const steps = new Map((await backend.getSteps(workflow.id)).map((step) => [step.name, step]));
      expect(steps.get('crashy')?.status).toBe('failed');
      expect(steps.get('rescue')?.status).toBe('running');
      const error = steps.get('crashy')?.error;
      expect(error).toMatchObject({ code: 'ERR_NODE_LOST', step: 'crashy', hook: 'beforeAll', lostCount: 1, maxNodeLosses: 1 });
      expect(error?.message).toMatch(/^the beforeAll hook of step "crashy" was lost with its node 1 time \(maxNodeLosses: 1\)/);
    });
  });
}
