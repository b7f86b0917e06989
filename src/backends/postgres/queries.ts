/**
 * The SQL of the PostgreSQL backend, read from the .sql files next to this module (copied
 * to dist by the build): named queries in sql/, numbered migrations in migrations/, and the
 * function files in functions/. Orchestration code refers to queries by name and never
 * builds SQL text.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Migration } from '../sql-files.js';
import { loadMigrations, loadNamedQueries } from '../sql-files.js';

const QUERY_NAMES = [
  // migrate.sql
  'lockMigrations',
  'setSchemaName',
  'createSchema',
  'createMigrationsTable',
  'appliedMigrations',
  'recordMigration',
  'createFunctionFilesTable',
  'appliedFunctionFiles',
  'setFilesToDrop',
  'dropFunctionsOfFiles',
  'schemaFunctions',
  'recordFunctionFile',
  'begin',
  'commit',
  'rollback',
  // inspect.sql
  'deflowSchemas',
  // events.sql
  'listen',
  'publishEvents',
  'eventsByIds',
  'recentEvents',
  // definition.sql
  'createWorkflow',
  'addAnchoredSteps',
  'addTasks',
  'retryWorkflow',
  'watchNextTask',
  // work.sql
  'claim',
  'complete',
  'release',
  'runnableSteps',
  'startDueSteps',
  'queueCounts',
  'controlWorkflow',
  // rate-limits.sql
  'setRateLimit',
  'rateLimits',
  'removeRateLimit',
  // schedules.sql
  'saveSchedule',
  'listSchedules',
  'removeSchedule',
  'claimScheduleTick',
  // nodes.sql
  'registerNode',
  'heartbeat',
  'unregisterNode',
  'recoverExpired',
  'listNodes',
  // reads.sql
  'now',
  'getWorkflow',
  'listWorkflows',
  'listWorkflowsByKey',
  'countWorkflows',
  'countWorkflowsByKey',
  'getSteps',
  'getStep',
  'getTasks',
  // signals.sql
  'deliverEvent',
  'broadcastEvent',
  'expireWaits',
  'getEvents',
  // retention.sql
  'removeWorkflow',
  'sweep',
] as const;

export type QueryName = (typeof QUERY_NAMES)[number];
export type Queries = Readonly<Record<QueryName, string>>;

let cached: Queries | null = null;

/** Every named query, checked once: a missing or unknown name is a packaging bug. */
export function queries(): Queries {
  if (cached !== null) return cached;
  const loaded = loadNamedQueries(fileURLToPath(new URL('./sql/', import.meta.url)));
  const missing = QUERY_NAMES.filter((name) => loaded[name] === undefined);
  if (missing.length > 0) throw new Error(`PostgreSQL backend: missing SQL queries ${missing.join(', ')}`);
  const unknown = Object.keys(loaded).filter((name) => !(QUERY_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`PostgreSQL backend: unknown SQL queries ${unknown.join(', ')}`);
  cached = loaded as Queries;
  return cached;
}

export function migrations(): Migration[] {
  return loadMigrations(fileURLToPath(new URL('./migrations/', import.meta.url)));
}

/** A file of function definitions, applied again whenever its content (checksum) changes. */
export interface FunctionFile {
  /** The file name (`04_claims.sql`): the files are applied in the order of their names. */
  name: string;
  sql: string;
  /** sha256 of the content, hex. */
  checksum: string;
}

export function functionFile(name: string, sql: string): FunctionFile {
  return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
}

/** The function files (`functions/*.sql`), in the order they are applied. */
export function functionFiles(): FunctionFile[] {
  const dir = fileURLToPath(new URL('./functions/', import.meta.url));
  return readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => functionFile(file, readFileSync(join(dir, file), 'utf8')));
}
