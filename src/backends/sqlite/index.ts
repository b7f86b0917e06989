/**
 * The SQLite backend as the registry sees it. better-sqlite3 and the SQL files load when one is
 * created (sqlite-backend.ts, imported on demand).
 */
import type { BackendDescriptor } from '../descriptor.js';
import { parseSqliteConfig } from './config.js';
import type { SqliteConfig } from './config.js';

export type { SqliteConfig } from './config.js';

export const sqliteBackend: BackendDescriptor<'sqlite', SqliteConfig> = {
  kind: 'sqlite',
  label: 'SQLite',
  schemes: ['sqlite:'],
  example: 'sqlite:/path/to/file.db',
  isolationOptions: {},
  parseConfig: parseSqliteConfig,
  async create(config, options) {
    const { SqliteBackend } = await import('./sqlite-backend.js');
    return new SqliteBackend({ ...config, readOnly: options?.readOnly === true });
  },
};
