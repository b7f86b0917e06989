/**
 * Racing claims on PostgreSQL: many nodes on several connection pools claim, complete, retry
 * and release the tasks of one step at the same time. No job is ever held by two nodes at
 * once, and every task ends recorded exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClaimedJob, JobOutcome } from '../../src/backends/backend.js';
import type { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import { eventually } from '../conformance/context.js';
import { connectionsOf, dropSchemas, freshSchemaName, oneStepWorkflow, openPostgresBackend, withAdmin } from '../helpers/postgres.js';

const schema = freshSchemaName();
const backends: PostgresBackend[] = [];

beforeAll(async () => {
  for (let i = 0; i < 4; i++) backends.push(await openPostgresBackend(schema));
});

afterAll(async () => {
  try {
    await Promise.all(backends.map((backend) => backend.close()));
    // Server processes of closed connections can linger a moment in pg_stat_activity.
    await eventually(async () => ((await connectionsOf(schema)) === 0 ? true : undefined));
  } finally {
    await dropSchemas([schema]);
  }
});

function outcome(job: ClaimedJob, status: 'succeeded' | 'retry'): JobOutcome {
  const lease = { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token };
  return status === 'succeeded'
    ? { ...lease, status, resultJson: JSON.stringify(job.seq), error: null }
    : { ...lease, status, error: { name: 'Error', message: 'try again' }, retryDelayMs: 0 };
}

describe('PostgreSQL claims under contention', () => {
  it('never lets two nodes hold the same job, and records each task once', async () => {
    const TASKS = 3000;
    const [first] = backends;
    if (first === undefined) throw new Error('no backend');
    await first.createWorkflow(oneStepWorkflow('race', TASKS, { taskMaxFailCount: 5 }));
    const nodes = Array.from({ length: 12 }, (_, i) => ({ id: `racer-${i}`, backend: backends[i % backends.length] as PostgresBackend }));
    for (const node of nodes) await node.backend.registerNode({ id: node.id, host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });

    const holder = new Map<string, string>(); // job id -> node holding it right now
    const violations: string[] = [];
    let accepted = 0;
    let stale = 0;
    let retries = 0;
    let released = 0;

    const take = (node: string, jobs: readonly ClaimedJob[]): void => {
      for (const job of jobs) {
        const other = holder.get(job.id);
        if (other !== undefined) violations.push(`${job.id} claimed by ${node} while ${other} held it`);
        holder.set(job.id, node);
      }
    };
    const drop = (jobs: readonly ClaimedJob[]): void => {
      for (const job of jobs) holder.delete(job.id);
    };

    const race = async ({ id, backend }: (typeof nodes)[number]): Promise<void> => {
      let idle = 0;
      let jobs = (await backend.claim({ nodeId: id, workflowId: 'race', stepId: '1', limit: 1 + Math.floor(Math.random() * 40) })).jobs;
      take(id, jobs);
      for (;;) {
        if (jobs.length === 0) {
          // Three empty claims in a row: done. (Checked before claiming again, so a job the
          // last claim returned is never left behind leased to a racer that stopped.)
          if (++idle > 3) break;
          await new Promise((resolve) => setTimeout(resolve, 5));
          jobs = (await backend.claim({ nodeId: id, workflowId: 'race', stepId: '1', limit: 1 + Math.floor(Math.random() * 40) })).jobs;
          take(id, jobs);
          continue;
        }
        idle = 0;
        // Hand a few back untouched, retry a few (they come back as requeued jobs, claimed
        // alone with SKIP LOCKED), complete the rest and claim the next batch in the same trip.
        const giveBack = jobs.filter(() => Math.random() < 0.05);
        const rest = jobs.filter((job) => !giveBack.includes(job));
        const outcomes = rest.map((job) => outcome(job, Math.random() < 0.1 && job.failedCount < 3 ? 'retry' : 'succeeded'));
        drop(jobs);
        if (giveBack.length > 0) {
          await backend.release(giveBack);
          released += giveBack.length;
        }
        const result = await backend.complete({
          outcomes,
          next: { nodeId: id, workflowId: 'race', stepId: '1', limit: 1 + Math.floor(Math.random() * 40) },
        });
        stale += result.stale.length;
        accepted += outcomes.filter((o) => o.status === 'succeeded' && !result.stale.includes(o.id)).length;
        retries += outcomes.filter((o) => o.status === 'retry').length;
        jobs = result.claimed?.jobs ?? [];
        take(id, jobs);
      }
    };
    await Promise.all(nodes.map(race));

    expect(violations).toEqual([]);
    expect(stale).toBe(0);
    expect(retries).toBeGreaterThan(0);
    expect(released).toBeGreaterThan(0);
    expect(accepted).toBe(TASKS);
    const step = await first.getStep('race', '1');
    expect(step?.counts).toEqual({ total: TASKS, done: TASKS, failed: 0 });
    expect((await first.getWorkflow('race'))?.status).toBe('succeeded');
    // Every task has exactly one success on record: its job row or one results batch entry.
    const recorded = await withAdmin(async (client) => {
      const { rows } = await client.query<{ seq: number; n: number }>(
        `SELECT seq, count(*)::int AS n FROM (
           SELECT j.seq FROM ${client.escapeIdentifier(schema)}.jobs j WHERE j.status = 'succeeded'
           UNION ALL
           SELECT unnest(r.seqs) FROM ${client.escapeIdentifier(schema)}.results r
         ) s GROUP BY seq ORDER BY seq`,
      );
      return rows;
    });
    expect(recorded).toHaveLength(TASKS);
    expect(recorded.every((row) => row.n === 1)).toBe(true);
    const tasks = await first.getTasks('race', '1', { afterSeq: 0, limit: TASKS });
    expect(tasks.map((task) => task.resultJson)).toEqual(Array.from({ length: TASKS }, (_, i) => String(i + 1)));
    expect(tasks.every((task) => task.status === 'succeeded')).toBe(true);
  }, 60_000);

  it('refuses a replayed completion batch, and the fresh part of a partly replayed one is kept', async () => {
    const [backend] = backends;
    if (backend === undefined) throw new Error('no backend');
    await backend.createWorkflow(oneStepWorkflow('replay', 10));
    await backend.registerNode({ id: 'replayer', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    const { jobs } = await backend.claim({ nodeId: 'replayer', workflowId: 'replay', stepId: '1', limit: 10 });
    expect(jobs).toHaveLength(10);
    const firstHalf = jobs.slice(0, 5).map((job) => outcome(job, 'succeeded'));
    expect((await backend.complete({ outcomes: firstHalf })).stale).toEqual([]);
    // The batcher retries a flush it could not confirm together with newer outcomes.
    const all = jobs.map((job) => outcome(job, 'succeeded'));
    const again = await backend.complete({ outcomes: all });
    expect(again.stale.sort()).toEqual(firstHalf.map((o) => o.id).sort());
    expect((await backend.getStep('replay', '1'))?.counts).toEqual({ total: 10, done: 10, failed: 0 });
    expect((await backend.getWorkflow('replay'))?.status).toBe('succeeded');
  });

  it('hands back what a node does not list in a reconciling heartbeat, without counting an attempt', async () => {
    const [backend] = backends;
    if (backend === undefined) throw new Error('no backend');
    await backend.createWorkflow(oneStepWorkflow('reconcile', 8));
    await backend.registerNode({ id: 'forgetful', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    const { jobs } = await backend.claim({ nodeId: 'forgetful', workflowId: 'reconcile', stepId: '1', limit: 6 });
    expect(jobs).toHaveLength(6);
    const [kept, lost] = [jobs.slice(0, 2), jobs.slice(2)];
    // The node lost track of the answer of a round trip: it only knows it holds two jobs.
    expect(await backend.heartbeat('forgetful', 60_000, kept.map((job) => job.id))).toEqual({ alive: true });
    const tasks = await backend.getTasks('reconcile', '1', { afterSeq: 0, limit: 8 });
    expect(tasks.map((task) => [task.seq, task.status, task.failedCount])).toEqual([
      [1, 'leased', 0],
      [2, 'leased', 0],
      [3, 'ready', 0],
      [4, 'ready', 0],
      [5, 'ready', 0],
      [6, 'ready', 0],
      [7, 'ready', 0],
      [8, 'ready', 0],
    ]);
    // A late outcome for a handed-back job is refused; the kept ones still count.
    const late = await backend.complete({ outcomes: [...kept, ...lost].map((job) => outcome(job, 'succeeded')) });
    expect(late.stale.sort()).toEqual(lost.map((job) => job.id).sort());
    const again = await backend.claim({ nodeId: 'forgetful', workflowId: 'reconcile', stepId: '1', limit: 10 });
    expect(again.jobs.map((job) => [job.seq, job.failedCount])).toEqual([3, 4, 5, 6, 7, 8].map((seq) => [seq, 0]));
  });
});
