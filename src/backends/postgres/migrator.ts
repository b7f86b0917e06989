/**
 * Brings a schema up to date: in one transaction, under a transaction-level advisory lock
 * keyed by the schema (so nodes starting together queue up), creates the schema and the
 * bookkeeping tables if needed, checks where the schema came from (migration-history.ts),
 * applies the numbered migrations it has not recorded yet, in order, then the function files
 * whose content changed (function-files.ts). When a numbered migration is pending, every
 * function is dropped first and every function file applied after it: migrations change
 * tables with no function depending on them, and functions are created against the new tables.
 *
 * A connection lost mid-migration rolls the transaction back on the server: migrate() rejects
 * (the caller may try again, see BackendUnavailableError) and the next migrator starts afresh.
 */
import createDebug from 'debug';
import type { Pool } from 'pg';
import { faultPoint } from '../../fault-points.js';
import type { Migration } from '../sql-files.js';
import { dropAllFunctionFiles, syncFunctionFiles } from './function-files.js';
import { checkHistory } from './migration-history.js';
import type { RecordedMigration } from './migration-history.js';
import { functionFiles, migrations, queries } from './queries.js';
import type { FunctionFile } from './queries.js';

const debug = createDebug('deflow:postgres:migrate');

/** What a schema is migrated to: the bundled files, unless a test hands others. */
export interface MigrationSources {
  migrations: readonly Migration[];
  functionFiles: readonly FunctionFile[];
}

/** What one migrate() applied: nothing when the schema was up to date. */
export interface MigrationReport {
  /** Versions of the numbered migrations applied. */
  migrations: number[];
  /** Names of the function files applied. */
  functionFiles: string[];
}

export function bundledSources(): MigrationSources {
  return { migrations: migrations(), functionFiles: functionFiles() };
}

export async function migrate(pool: Pool, schema: string, sources: MigrationSources = bundledSources()): Promise<MigrationReport> {
  const q = queries();
  const client = await pool.connect();
  // The pool stops listening to a client it hands out: a connection dropped mid-migration
  // (a restart, pg_terminate_backend) would emit an unhandled 'error' and end the process.
  // The query in flight rejects with the reason, so the event only needs to be heard.
  const onLost = (error: Error): void => debug('schema %s: connection lost while migrating: %s', schema, error.message);
  client.on('error', onLost);
  let failure: Error | undefined;
  try {
    await client.query(q.begin);
    await client.query(q.lockMigrations, [schema]);
    faultPoint('migrate:holding-lock');
    await client.query(q.setSchemaName, [schema]);
    await client.query(q.createSchema);
    await client.query(q.createMigrationsTable);
    await client.query(q.createFunctionFilesTable);
    const { rows } = await client.query<RecordedMigration>(q.appliedMigrations);
    checkHistory(schema, rows, sources.migrations);
    const applied = new Set(rows.map((row) => row.version));
    const pending = sources.migrations.filter((migration) => !applied.has(migration.version));
    if (pending.length > 0) await dropAllFunctionFiles(client, q);
    for (const migration of pending) {
      debug('schema %s: applying migration %d (%s)', schema, migration.version, migration.name);
      await client.query(migration.sql);
      await client.query(q.recordMigration, [migration.version, migration.name]);
    }
    const files = await syncFunctionFiles(client, q, sources.functionFiles);
    if (files.length > 0) debug('schema %s: applied function files %o', schema, files);
    await client.query(q.commit);
    return { migrations: pending.map((migration) => migration.version), functionFiles: files };
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
    await client.query(q.rollback).catch(() => undefined);
    throw failure;
  } finally {
    client.release(failure);
    client.off('error', onLost);
  }
}
