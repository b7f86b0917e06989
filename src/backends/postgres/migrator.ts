/**
 * Brings a schema up to date: in one transaction, under a transaction-level advisory lock
 * keyed by the schema (so nodes starting together queue up), creates the schema and the
 * version table if needed and applies the migrations it has not recorded yet, in order.
 */
import createDebug from 'debug';
import type { Pool } from 'pg';
import { migrations, queries } from './queries.js';

const debug = createDebug('deflow:postgres:migrate');

/** Applies missing migrations; returns the versions it applied. */
export async function migrate(pool: Pool, schema: string): Promise<number[]> {
  const q = queries();
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    await client.query(q.begin);
    await client.query(q.lockMigrations, [schema]);
    await client.query(q.setSchemaName, [schema]);
    await client.query(q.createSchema);
    await client.query(q.createMigrationsTable);
    const { rows } = await client.query<{ version: number }>(q.appliedMigrations);
    const applied = new Set(rows.map((row) => row.version));
    const done: number[] = [];
    for (const migration of migrations()) {
      if (applied.has(migration.version)) continue;
      debug('schema %s: applying migration %d (%s)', schema, migration.version, migration.name);
      await client.query(migration.sql);
      await client.query(q.recordMigration, [migration.version, migration.name]);
      done.push(migration.version);
    }
    await client.query(q.commit);
    return done;
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
    await client.query(q.rollback).catch(() => undefined);
    throw failure;
  } finally {
    client.release(failure);
  }
}
