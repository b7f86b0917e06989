/**
 * The PostgreSQL backend, loaded on demand by the backend factory (only processes that use
 * PostgreSQL load pg and the SQL files).
 */
import type { ResolvedRegisterOptions } from '../../api/options.js';
import { DEFAULT_POOL_SIZE, checkSchemaName } from './config.js';
import { PostgresBackend } from './postgres-backend.js';

export { PostgresBackend } from './postgres-backend.js';
export type { PostgresConfig } from './config.js';

export function createPostgresBackend(options: ResolvedRegisterOptions): PostgresBackend {
  return new PostgresBackend({
    url: options.backend,
    schema: checkSchemaName(options.schema),
    poolSize: DEFAULT_POOL_SIZE,
    recoverIntervalMs: options.checkProcessQueueInterval,
  });
}
