/**
 * Reconciling heartbeats (sent after a round trip failed ambiguously) racing with claims, with
 * the races held open on purpose: a row lock taken by the test keeps a call waiting on the
 * server while another one goes through. The node's held list accounts for the claims of the
 * calls it sent before taking it, no more and no less.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClaimedJob, JobOutcome } from '../../src/backends/backend.js';
import { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import { DATABASE_URL, dropSchemas, freshSchemaName, oneStepWorkflow, openPostgresBackend, withAdmin } from '../helpers/postgres.js';
import { TcpProxy } from './tcp-proxy.js';

const schemas: string[] = [];
const opened: PostgresBackend[] = [];
const proxies: TcpProxy[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((backend) => backend.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await dropSchemas(schemas.splice(0));
});

async function freshBackend(url = DATABASE_URL, schema = freshSchemaName()): Promise<PostgresBackend> {
  if (!schemas.includes(schema)) schemas.push(schema);
  const backend = url === DATABASE_URL ? await openPostgresBackend(schema) : new PostgresBackend({ url, schema, poolSize: 3, recoverIntervalMs: 0 });
  opened.push(backend);
  await backend.open(); // (a no-op when openPostgresBackend opened it)
  return backend;
}

function success(job: ClaimedJob): JobOutcome {
  return { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token, status: 'succeeded', resultJson: '1', error: null };
}

/** Holds a row lock in its own transaction until released. */
async function holdLock(schema: string, sql: string, values: unknown[]): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: DATABASE_URL, application_name: 'deflow-test-lock' });
  await client.connect();
  await client.query('BEGIN');
  await client.query(sql.replaceAll('$schema', client.escapeIdentifier(schema)), values);
  return {
    async release() {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

/** Waits until `count` of the schema's deflow connections wait on a lock. */
async function waitersOnLocks(schema: string, count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const waiting = await withAdmin(async (client) => {
      const { rows } = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [`deflow:${schema}`],
      );
      return rows[0]?.n ?? 0;
    });
    if (waiting >= count) return;
    if (Date.now() > deadline) throw new Error(`${count} calls never waited on a lock`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('PostgreSQL reconciling heartbeats', () => {
  it('keeps the jobs of a claim sent after the held list was taken, even when it lands first', async () => {
    const schema = freshSchemaName();
    const backend = await freshBackend(DATABASE_URL, schema);
    await backend.createWorkflow(oneStepWorkflow('late', 10));
    await backend.registerNode({ id: 'node', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    const first = (await backend.claim({ nodeId: 'node', workflowId: 'late', stepId: '1', limit: 3 })).jobs;
    expect(first).toHaveLength(3);

    // The heartbeat (held list: the first batch) waits on the server behind a lock on the node row...
    const lock = await holdLock(schema, 'SELECT 1 FROM $schema.nodes WHERE id = $1 FOR UPDATE', ['node']);
    const beat = backend.heartbeat('node', 60_000, first.map((job) => job.id));
    await waitersOnLocks(schema, 1);
    // ...while the node's next claim, sent after the list was taken, goes through.
    const second = (await backend.claim({ nodeId: 'node', workflowId: 'late', stepId: '1', limit: 3 })).jobs;
    expect(second.map((job) => job.seq)).toEqual([4, 5, 6]);
    await lock.release();
    expect(await beat).toEqual({ alive: true });

    // The second batch is still the node's: nobody else gets it, and its results count.
    const tasks = await backend.getTasks('late', '1', { afterSeq: 0, limit: 10 });
    expect(tasks.map((task) => task.status)).toEqual([...Array<string>(6).fill('leased'), ...Array<string>(4).fill('ready')]);
    const result = await backend.complete({ outcomes: [...first, ...second].map(success) });
    expect(result.stale).toEqual([]);
    expect((await backend.getStep('late', '1'))?.counts).toEqual({ total: 10, done: 6, failed: 0 });
  });

  it('hands back the claim of a call the node gave up on, even when it commits during the reconciliation', async () => {
    const proxy = await TcpProxy.start(DATABASE_URL);
    proxies.push(proxy);
    const schema = freshSchemaName();
    const direct = await freshBackend(DATABASE_URL, schema);
    const node = await freshBackend(proxy.urlFor(DATABASE_URL), schema);
    await direct.createWorkflow(oneStepWorkflow('ghost', 10));
    await node.registerNode({ id: 'node', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });

    // A claim waits on the server behind a lock on its step row; its connection is cut, so the
    // node sees it fail, but the server still runs it once the lock goes.
    const lock = await holdLock(schema, "SELECT 1 FROM $schema.steps WHERE workflow_id = 'ghost' FOR UPDATE", []);
    const lost = node.claim({ nodeId: 'node', workflowId: 'ghost', stepId: '1', limit: 5 }).then(
      () => 'answered',
      () => 'failed',
    );
    await waitersOnLocks(schema, 1);
    await proxy.cut();
    expect(await lost).toBe('failed');
    await proxy.restore();

    // The node holds nothing and says so; its heartbeat waits for the claim in progress.
    const beat = node.heartbeat('node', 60_000, []);
    await waitersOnLocks(schema, 2);
    await lock.release();
    expect(await beat).toEqual({ alive: true });

    // Nothing is stranded with the node: another node gets all ten tasks, none charged.
    await direct.registerNode({ id: 'other', host: 'test', pid: 2, handlers: [], leaseMs: 60_000 });
    const all = (await direct.claim({ nodeId: 'other', workflowId: 'ghost', stepId: '1', limit: 20 })).jobs;
    expect(all.map((job) => [job.seq, job.failedCount])).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, 0]));
  });

  it('claims nothing for a call numbered before the last reconciliation', async () => {
    const schema = freshSchemaName();
    const backend = await freshBackend(DATABASE_URL, schema);
    await backend.createWorkflow(oneStepWorkflow('stale-call', 4));
    await backend.registerNode({ id: 'node', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    const held = (await backend.claim({ nodeId: 'node', workflowId: 'stale-call', stepId: '1', limit: 1 })).jobs;
    expect(await backend.heartbeat('node', 60_000, held.map((job) => job.id))).toEqual({ alive: true });
    // A call the node sent before that heartbeat (a smaller number) reaching the server only now.
    const claimed = await withAdmin(async (client) => {
      await client.query(`SET search_path = ${client.escapeIdentifier(schema)}`);
      const { rows } = await client.query<{ seqs: number[] }>("SELECT seqs FROM claim_jobs('node', 'stale-call', '1', 4, 1)");
      return rows[0]?.seqs;
    });
    expect(claimed).toEqual([]);
    const now = await backend.claim({ nodeId: 'node', workflowId: 'stale-call', stepId: '1', limit: 4 });
    expect(now.jobs.map((job) => job.seq)).toEqual([2, 3, 4]);
  });
});
