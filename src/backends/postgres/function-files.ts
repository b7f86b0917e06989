/**
 * The schema's functions, kept like repeatable migrations: a function file (functions/*.sql)
 * runs again when its checksum differs from the one recorded in `function_files`. Before it
 * does, the functions it created last time are dropped (their signatures are recorded with the
 * checksum), so an edit may change a function's arguments or return type, which CREATE OR
 * REPLACE cannot, and a function deleted from a file disappears from the schema. Files run in
 * name order with check_function_bodies on: a LANGUAGE sql body may only call functions of
 * earlier files. Runs inside the migrator's transaction, under its lock.
 */
import type { PoolClient } from 'pg';
import type { FunctionFile, Queries } from './queries.js';

/** Drops every function the recorded files created and forgets them (before numbered migrations run). */
export async function dropAllFunctionFiles(client: PoolClient, q: Queries): Promise<void> {
  await dropFunctionFiles(client, q, [...(await recordedChecksums(client, q)).keys()]);
}

/** Brings the schema's functions in line with `files`; returns the names of the files it applied. */
export async function syncFunctionFiles(client: PoolClient, q: Queries, files: readonly FunctionFile[]): Promise<string[]> {
  const recorded = await recordedChecksums(client, q);
  const changed = files.filter((file) => recorded.get(file.name) !== file.checksum);
  const present = new Set(files.map((file) => file.name));
  const removed = [...recorded.keys()].filter((name) => !present.has(name));
  // Everything that goes, first: a function moved from one file to another must not exist twice.
  await dropFunctionFiles(client, q, [...changed.map((file) => file.name), ...removed]);
  for (const file of changed) {
    const { rows } = await client.query<{ oids: string[] }>(q.schemaFunctions);
    await client.query(file.sql);
    await client.query(q.recordFunctionFile, [file.name, file.checksum, rows[0]?.oids ?? []]);
  }
  return changed.map((file) => file.name);
}

async function recordedChecksums(client: PoolClient, q: Queries): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; checksum: string }>(q.appliedFunctionFiles);
  return new Map(rows.map((row) => [row.name, row.checksum]));
}

async function dropFunctionFiles(client: PoolClient, q: Queries, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await client.query(q.setFilesToDrop, [JSON.stringify(names)]);
  await client.query(q.dropFunctionsOfFiles);
}
