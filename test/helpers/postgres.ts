/**
 * PostgreSQL for tests: a fresh schema per test (or per file) on the server at DATABASE_URL,
 * dropped afterwards. Connections carry the application name "deflow:<schema>", so a test
 * can find (and terminate) its own connections without touching anybody else's.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { NewWorkflow, ResolvedStepOptions } from '../../src/backends/backend.js';
import { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import type { BackendUnderTest } from './backends.js';

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
  };
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
