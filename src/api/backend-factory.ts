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
  if (url.startsWith('sqlite:')) return 'sqlite';
  if (url.startsWith('redis:') || url.startsWith('rediss:')) return 'redis';
  if (url.startsWith('postgres:') || url.startsWith('postgresql:')) return 'postgres';
  throw new ValidationError(
    `DeFlow.register options.backend: unsupported backend ${JSON.stringify(url)}; ` +
      'use "sqlite:/path/to/file.db", "redis://host:6379" or "postgres://user@host/db"',
  );
}

export async function createBackend(options: ResolvedRegisterOptions): Promise<Backend> {
  const kind = backendKind(options.backend);
  switch (kind) {
    case 'sqlite': {
      const path = options.backend.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
      if (path.length === 0) throw new ValidationError('DeFlow.register options.backend: "sqlite:" needs a file path, e.g. sqlite:./data/deflow.db');
      return Promise.resolve(new SqliteBackend({ path: path === ':memory:' ? path : resolve(path), pollIntervalMs: options.pollInterval }));
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
