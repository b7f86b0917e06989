/** The Redis backend, loaded on demand by the backend factory (so SQLite-only users never load ioredis). */
import type { ResolvedRegisterOptions } from '../../api/options.js';
import type { Backend } from '../backend.js';
import { RedisBackend } from './redis-backend.js';

export { RedisBackend } from './redis-backend.js';
export type { RedisBackendOptions } from './redis-backend.js';

/** Builds the backend for `DeFlow.register({ connection })` or `{ backend: 'redis://…' }`. */
export function createRedisBackend(options: ResolvedRegisterOptions): Backend {
  return new RedisBackend({ url: options.backend, connection: options.connection, prefix: options.prefix });
}
