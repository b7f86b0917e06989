/**
 * The PostgreSQL backend as the registry sees it. Only processes that create one load pg and
 * the SQL files (postgres-backend.ts, imported on demand).
 */
import type { BackendDescriptor } from '../descriptor.js';
import { checkSchemaName, parsePostgresConfig } from './config.js';
import type { PostgresConfig } from './config.js';

export type { PostgresConfig } from './config.js';

export const postgresBackend: BackendDescriptor<'postgres', PostgresConfig> = {
  kind: 'postgres',
  label: 'PostgreSQL',
  schemes: ['postgres:', 'postgresql:'],
  example: 'postgres://user@host/db',
  isolationOptions: { schema: checkSchemaName },
  parseConfig: parsePostgresConfig,
  async create(config, options) {
    const { PostgresBackend } = await import('./postgres-backend.js');
    return new PostgresBackend(config, options);
  },
};
