/**
 * The SQL of the PostgreSQL backend, read from the .sql files next to this module (copied
 * to dist by the build): named queries in sql/, numbered migrations in migrations/.
 * Orchestration code refers to queries by name and never builds SQL text.
 */
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
  'begin',
  'commit',
  'rollback',
  // events.sql
  'listen',
  'publishEvents',
  'eventById',
  'recentEvents',
  // definition.sql
  'createWorkflow',
  'addAnchoredSteps',
  'addTasks',
  'watchNextTask',
  // work.sql
  'claim',
  'complete',
  'release',
  'runnableSteps',
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
  'getSteps',
  'getStep',
  'getTasks',
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
