/**
 * PostgreSQL for tests: a fresh schema per test (or per file) on the server at DATABASE_URL,
 * dropped afterwards. Connections carry the application name "deflow:<schema>", so a test
 * can find (and terminate) its own connections without touching anybody else's.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { NewWorkflow, ResolvedStepOptions } from '../../src/backends/backend.js';
import { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import type { BackendUnderTest, CorruptTarget } from './backends.js';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function freshSchemaName(): string {
  return `deflow_t_${randomBytes(6).toString('hex')}`;
}

/** Runs `fn` with a short-lived admin connection (not one of deflow's). */
export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: DATABASE_URL, application_name: 'deflow-test-admin' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A pool for a test's own queries. pg-pool's end() resolves once its clients are told to end,
 * not once they have: dropSchemas() may terminate one in between, and the pool re-emits that
 * client's error, which without a listener ends the test process.
 */
export function testPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => undefined);
  return pool;
}

/** deflow connections of a schema still open on the server. */
export async function connectionsOf(schema: string): Promise<number> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
      `deflow:${schema}`,
    ]);
    return rows[0]?.n ?? 0;
  });
}

/** Terminates every deflow connection of a schema (a simulated server restart for that schema). */
export async function terminateConnectionsOf(schema: string): Promise<number> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ n: number }>(
      'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [`deflow:${schema}`],
    );
    return rows[0]?.n ?? 0;
  });
}

export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  await withAdmin(async (client) => {
    for (const schema of schemas) {
      // Leftovers of killed processes would hold locks the DROP waits for.
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`deflow:${schema}`]);
      await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(schema)} CASCADE`);
    }
  });
}

export function postgresUnderTest(): BackendUnderTest {
  const schemas: string[] = [];
  return {
    name: 'postgres',
    fresh() {
      const schema = freshSchemaName();
      schemas.push(schema);
      return Promise.resolve({ backend: DATABASE_URL, schema });
    },
    cleanup() {
      return dropSchemas(schemas.splice(0));
    },
    expireNode(store, nodeId) {
      return expirePostgresNode(String(store.schema), nodeId);
    },
    storedSuccesses(store) {
      return successesBySeq(String(store.schema));
    },
    corruptRecord(store, target) {
      return corruptPostgresRecord(String(store.schema), target);
    },
  };
}

/**
 * Makes a node's lease end a millisecond ago on the database's clock. If a silence (see
 * 0010_outage_grace.sql) is on record, the lease ends before that silence began, as for a node
 * that died while others heartbeated: the watchdog judges it at once, without the grace.
 */
export async function expirePostgresNode(schema: string, nodeId: string): Promise<void> {
  await withAdmin(async (client) => {
    const s = client.escapeIdentifier(schema);
    const { rowCount } = await client.query(
      `UPDATE ${s}.nodes SET lease_expires_at = least(
         lease_expires_at,
         now(),
         (SELECT CASE WHEN c.silence_began_at = '-infinity' THEN now() ELSE c.silence_began_at END FROM ${s}.contact c WHERE c.id = 1)
       ) - interval '1 millisecond'
       WHERE id = $1`,
      [nodeId],
    );
    if (rowCount !== 1) throw new Error(`no node ${nodeId} in schema ${schema}`);
  });
}

/** Moves every instant of the nodes in `schema` (or of those listed) `ms` into the past, as if that much time had passed without a heartbeat. */
export async function backdateNodes(schema: string, ms: number, nodeIds?: readonly string[]): Promise<void> {
  await withAdmin(async (client) => {
    const s = client.escapeIdentifier(schema);
    await client.query(
      `UPDATE ${s}.nodes SET started_at = started_at - $1 * interval '1 millisecond', heartbeat_at = heartbeat_at - $1 * interval '1 millisecond',
         lease_expires_at = lease_expires_at - $1 * interval '1 millisecond'
       WHERE $2::text[] IS NULL OR id = ANY($2::text[])`,
      [ms, nodeIds === undefined ? null : [...nodeIds]],
    );
  });
}

/** How many times each task's success is on record (job row or results batch), by seq. */
export async function successesBySeq(schema: string): Promise<Map<number, number>> {
  return withAdmin(async (client) => {
    const s = client.escapeIdentifier(schema);
    const { rows } = await client.query<{ seq: number; n: number }>(
      `SELECT seq, count(*)::int AS n FROM (
         SELECT j.seq FROM ${s}.jobs j WHERE j.status = 'succeeded' AND j.seq BETWEEN 1 AND 2147483646
         UNION ALL SELECT unnest(r.seqs) FROM ${s}.results r
       ) t GROUP BY seq`,
    );
    return new Map(rows.map((row) => [row.seq, row.n]));
  });
}

/** A PostgreSQL backend on `schema`, opened (migrated); the caller closes it. */
export async function openPostgresBackend(schema: string, checkProcessQueueInterval = 0): Promise<PostgresBackend> {
  const backend = new PostgresBackend({ url: DATABASE_URL, schema, poolSize: 3, recoverIntervalMs: checkProcessQueueInterval });
  await backend.open();
  return backend;
}

/** A one-step workflow created through the contract, for tests that claim by hand. */
export function oneStepWorkflow(id: string, tasks: number, options: Partial<ResolvedStepOptions> = {}): NewWorkflow {
  return {
    id,
    name: 'by-hand',
    options: { cleanOnDone: false, retentionMs: null, keepMs: null, stepDefaults: {} },
    watchNextTask: false,
    replaceByName: false,
    steps: [
      {
        id: '1',
        name: 'by-hand',
        handler: { key: 'by-hand', hasBeforeAll: false, hasAfterAll: false },
        dataJson: 'null',
        options: { taskConcurrency: 1, taskTimeout: 0, taskMaxFailCount: 1, taskFailRetryDelay: 0, ...options },
        deps: [],
        tasksJson: Array.from({ length: tasks }, (_, i) => String(i + 1)),
      },
    ],
  };
}

/**
 * Overwrites one stored field of a step, or a task's data, in `schema`. data columns are text
 * (any junk fits); handler, options and error are jsonb: a value that is not JSON is stored as
 * a JSON string, the wrong shape.
 */
export async function corruptPostgresRecord(schema: string, target: CorruptTarget): Promise<void> {
  if (target.field === 'number' || target.field === 'job state' || target.stepId === null) throw new Error('corruptRecord: a Redis-only target');
  await withAdmin(async (client) => {
    const s = client.escapeIdentifier(schema);
    const step = `(SELECT pk FROM ${s}.steps WHERE workflow_id = $2 AND id = $3)`;
    let sql: string;
    let values: unknown[];
    if (target.field === 'task data') {
      sql = `UPDATE ${s}.jobs SET data = $1 WHERE step_pk = ${step} AND seq = $4`;
      values = [target.value, target.workflowId, target.stepId, target.seq];
    } else if (target.field === 'data') {
      sql = `UPDATE ${s}.steps SET data = $1 WHERE pk = ${step}`;
      values = [target.value, target.workflowId, target.stepId];
    } else {
      let json: string;
      try {
        JSON.parse(target.value);
        json = target.value;
      } catch {
        json = JSON.stringify(target.value);
      }
      sql = `UPDATE ${s}.steps SET ${client.escapeIdentifier(target.field)} = $1::jsonb WHERE pk = ${step}`;
      values = [json, target.workflowId, target.stepId];
    }
    const { rowCount } = await client.query(sql, values);
    if (rowCount !== 1) throw new Error(`nothing to corrupt for ${JSON.stringify(target)} in schema ${schema}`);
  });
}
