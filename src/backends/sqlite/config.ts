/**
 * The configuration of the SQLite backend, checked in one place: the database file a `sqlite:`
 * URL names. Light on purpose: the registry reads it without loading better-sqlite3.
 */
import { resolve } from 'node:path';
import { ValidationError } from '../../errors.js';
import type { BackendInput } from '../descriptor.js';

export interface SqliteConfig {
  /** Database file, absolute, or `:memory:` (one process only). */
  path: string;
  /** How often idle processes check whether another process changed the file, in milliseconds. */
  pollIntervalMs: number;
}

/** The configuration DeFlow.register's options describe; throws a ValidationError for a URL without a path. */
export function parseSqliteConfig(input: BackendInput): SqliteConfig {
  return { path: sqlitePath(input.url), pollIntervalMs: input.pollIntervalMs };
}

/** The database file of a `sqlite:` URL (`sqlite:./a.db`, `sqlite:/abs/a.db`, `sqlite:///abs/a.db`), absolute, or `:memory:`. */
function sqlitePath(url: string): string {
  const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
  if (path.length === 0) throw new ValidationError('DeFlow.register options.backend: "sqlite:" needs a file path, e.g. sqlite:./data/deflow.db');
  return path === ':memory:' ? path : resolve(path);
}
