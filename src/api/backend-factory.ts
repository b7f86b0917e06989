/**
 * Picks and builds the backend named by the register options:
 *   sqlite:<path> (default ./.deflow/deflow.db) | redis://… rediss://… | postgres://… postgresql://…
 */
import { resolve } from 'node:path';
import type { Backend } from '../backends/backend.js';
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js';
import { ValidationError } from '../errors.js';
import type { ResolvedRegisterOptions } from './options.js';

export type BackendKind = 'sqlite' | 'redis' | 'postgres';

/** Validates the backend URL's scheme synchronously (so register() throws at once). */
export function backendKind(url: string): BackendKind {
  if (url.startsWith('sqlite:')) {
    sqlitePath(url);
    return 'sqlite';
  }
  if (url.startsWith('redis:') || url.startsWith('rediss:')) {
    // 'redis:' alone stands for DeFlow's `connection` object.
    if (url !== 'redis:') checkRedisUrl(url);
    return 'redis';
  }
  if (url.startsWith('postgres:') || url.startsWith('postgresql:')) {
    parseUrl(url, 'postgres://user:password@host:5432/database');
    return 'postgres';
  }
  throw new ValidationError(
    `DeFlow.register options.backend: unsupported backend ${JSON.stringify(url)}; ` +
      'use "sqlite:/path/to/file.db", "redis://host:6379" or "postgres://user@host/db"',
  );
}

export async function createBackend(options: ResolvedRegisterOptions): Promise<Backend> {
  const kind = backendKind(options.backend);
  switch (kind) {
    case 'sqlite': {
      return Promise.resolve(new SqliteBackend({ path: sqlitePath(options.backend), pollIntervalMs: options.pollInterval }));
    }
    case 'postgres': {
      const { createPostgresBackend } = await import('../backends/postgres/index.js');
      return createPostgresBackend(options);
    }
    case 'redis': {
      const { createRedisBackend } = await import('../backends/redis/index.js');
      return createRedisBackend(options);
    }
  }
}

/** The database file of a `sqlite:` URL, absolute (or `:memory:`). */
export function sqlitePath(url: string): string {
  const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
  if (path.length === 0) throw new ValidationError('DeFlow.register options.backend: "sqlite:" needs a file path, e.g. sqlite:./data/deflow.db');
  return path === ':memory:' ? path : resolve(path);
}

function parseUrl(url: string, example: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new ValidationError(`DeFlow.register options.backend: ${JSON.stringify(redact(url))} is not a valid URL; expected the form ${example}`);
  }
}

function checkRedisUrl(url: string): void {
  const parsed = parseUrl(url, 'redis://[user:password@]host[:port][/db]');
  if (parsed.hostname === '') throw new ValidationError(`DeFlow.register options.backend: ${JSON.stringify(redact(url))} names no host; expected redis://host[:port][/db]`);
  if (!/^\/?(\d+)?\/?$/.test(parsed.pathname)) {
    throw new ValidationError(
      `DeFlow.register options.backend: the path of ${JSON.stringify(redact(url))} must be a database index (redis://host:6379/2), got ${JSON.stringify(parsed.pathname)}`,
    );
  }
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

/**
 * `prefix` isolates apps on Redis and `schema` on PostgreSQL; given for another backend they
 * isolate nothing. A warning, not an error: apps often switch backends with $DEFLOW_BACKEND.
 */
export function warnAboutForeignOptions(kind: BackendKind, prefix: string | undefined, schema: string | undefined): void {
  if (prefix !== undefined && kind !== 'redis') {
    process.emitWarning(`DeFlow.register options.prefix only applies to Redis; the ${kind} backend ignores it`, { type: 'DeflowWarning', code: 'DEFLOW_IGNORED_OPTION' });
  }
  if (schema !== undefined && kind !== 'postgres') {
    process.emitWarning(`DeFlow.register options.schema only applies to PostgreSQL; the ${kind} backend ignores it`, { type: 'DeflowWarning', code: 'DEFLOW_IGNORED_OPTION' });
  }
}
