/**
 * Connections that PostgreSQL drops under deflow (pg_terminate_backend, as a restart or an
 * operator would): the process never crashes. A migrator cut off while it holds the migration
 * lock rolls back and is tried again (or ready() says why, and the next migrator finishes the
 * job); migrators of two processes racing on a fresh schema both succeed; a running node whose
 * LISTEN and pool connections are cut reconnects and keeps working.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { BackendUnavailableError, WorkFlow } from '../../src/index.js';
import { bundledSources } from '../../src/backends/postgres/migrator.js';
import { armFault, disarmAllFaults } from '../../src/fault-points.js';
import { eventually } from '../conformance/context.js';
import echo from '../fixtures/steps/echo.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import { DATABASE_URL, dropSchemas, freshSchemaName, withAdmin } from '../helpers/postgres.js';

const schemas: string[] = [];
afterEach(async () => {
  disarmAllFaults();
  await DeFlow.unregister();
  await stopAllNodes();
  await dropSchemas(schemas.splice(0));
});

function fresh(): string {
  const schema = freshSchemaName();
  schemas.push(schema);
  return schema;
}

/**
 * Terminates, synchronously (the fault point runs inside the migrator, which must not go on
 * before it is done), the connection of `schema` that holds an advisory lock: the migrator's.
 */
function terminateMigrator(schema: string): void {
  const sql =
    'SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid)) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid ' +
    `WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'deflow:${schema}'`;
  const terminated = execFileSync('psql', [DATABASE_URL, '-Atc', sql], { encoding: 'utf8' }).trim();
  if (terminated !== '1') throw new Error(`expected to terminate one migrator connection, terminated ${terminated}`);
}

/** What the schema's migrator recorded: every bundled migration and function file, once. */
async function migrated(schema: string): Promise<{ migrations: number[]; functionFiles: string[] }> {
  return withAdmin(async (client) => {
    const s = client.escapeIdentifier(schema);
    const migrations = (await client.query<{ version: number }>(`SELECT version FROM ${s}.migrations ORDER BY version`)).rows.map((row) => row.version);
    const functionFiles = (await client.query<{ name: string }>(`SELECT name FROM ${s}.function_files ORDER BY name`)).rows.map((row) => row.name);
    return { migrations, functionFiles };
  });
}

const everything = {
  migrations: bundledSources().migrations.map((migration) => migration.version),
  functionFiles: bundledSources().functionFiles.map((file) => file.name),
};

async function runsAWorkflow(): Promise<void> {
  const result = await WorkFlow.create('after-fault').addStep({ step: echo, tasks: [{ value: 1 }, { value: 2 }] }).run().done();
  expect(result.status).toBe('succeeded');
}

describe('PostgreSQL connections dropped under deflow', () => {
  it('a migrator cut off while it holds the lock does not crash the process, and its next attempt migrates', async () => {
    const schema = fresh();
    let cut = 0;
    armFault('migrate:holding-lock', () => {
      cut++;
      terminateMigrator(schema);
    });
    const deflow = DeFlow.register({ backend: DATABASE_URL, schema });
    const said: string[] = [];
    deflow.on('error', (error, during) => said.push(`${during}: ${error.message}`));
    await deflow.ready();
    expect(cut).toBe(1);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^connect: cannot open the PostgreSQL backend at .*: terminating connection due to administrator command.* Trying again in/);
    expect(await migrated(schema)).toEqual(everything);
    await runsAWorkflow();
  }, 60_000);

  it('with startupTimeout 0, ready() says why, and the next migrator finishes the job', async () => {
    const schema = fresh();
    armFault('migrate:holding-lock', () => terminateMigrator(schema));
    const first = DeFlow.register({ backend: DATABASE_URL, schema, startupTimeout: 0 });
    const error = (await first.ready().catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error.message).toMatch(/^cannot open the PostgreSQL backend at postgres:.* \(schema deflow_t_\w+\): terminating connection due to administrator command/);
    // The transaction was rolled back on the server: nothing half-applied is left.
    expect(await withAdmin(async (client) => (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount)).toBe(0);
    await DeFlow.unregister();
    await DeFlow.register({ backend: DATABASE_URL, schema }).ready();
    expect(await migrated(schema)).toEqual(everything);
    await runsAWorkflow();
  }, 60_000);

  it('two processes migrating a fresh schema at once both succeed, applying everything once', async () => {
    const schema = fresh();
    const options = { backend: DATABASE_URL, schema };
    const nodes = await Promise.all([startNode(options), startNode(options)]);
    expect(nodes.map((node) => node.child.exitCode)).toEqual([null, null]);
    expect(await migrated(schema)).toEqual(everything);
    await DeFlow.register({ ...options, worker: false }).ready();
    await runsAWorkflow();
  }, 60_000);

  it('a running node whose LISTEN and pool connections are terminated keeps running and working', async () => {
    const schema = fresh();
    const options = { backend: DATABASE_URL, schema, leaseMs: 5_000, checkProcessQueueInterval: 250 };
    const node = await startNode(options);
    await DeFlow.register({ ...options, worker: false }).ready();
    await runsAWorkflow();
    // The event connections (LISTEN, replay after a reconnect, heartbeats) first, then every connection.
    const events = "(query LIKE '%LISTEN%' OR query LIKE '%FROM events WHERE replay%' OR query LIKE 'SELECT heartbeat(%')";
    for (const which of [events, 'true']) {
      const terminated = await withAdmin(async (client) => {
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND ${which}`,
          [`deflow:${schema}`],
        );
        return rows[0]?.n ?? 0;
      });
      expect(terminated).toBeGreaterThan(0);
      // Both processes reconnect by themselves (the LISTEN connections come back).
      await eventually(async () => {
        const listening = await withAdmin(async (client) => {
          const { rows } = await client.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND ${events}`,
            [`deflow:${schema}`],
          );
          return rows[0]?.n ?? 0;
        });
        return listening >= 2 ? true : undefined;
      }, 30_000);
      const before = node.messages.filter((m) => m.type === 'start').length;
      await runsAWorkflow();
      expect(node.messages.filter((m) => m.type === 'start').length).toBe(before + 2);
    }
    expect(node.child.exitCode).toBeNull();
    expect(node.child.signalCode).toBeNull();
  }, 90_000);
});
