/**
 * The Redis backend as the registry sees it. Only processes that create one load ioredis and
 * the Lua scripts (redis-backend.ts, imported on demand).
 */
import type { BackendDescriptor } from '../descriptor.js';
import { checkRedisPrefix, parseRedisConfig } from './config.js';
import type { RedisConfig } from './config.js';

export type { RedisConfig, RedisConnectionOptions } from './config.js';

export const redisBackend: BackendDescriptor<'redis', RedisConfig> = {
  kind: 'redis',
  label: 'Redis',
  // 'redis:' alone stands for DeFlow's `connection` object; '+cluster' URLs name a Redis Cluster.
  schemes: ['redis:', 'rediss:', 'redis+cluster:', 'rediss+cluster:'],
  example: 'redis://host:6379',
  isolationOptions: { prefix: checkRedisPrefix },
  parseConfig: parseRedisConfig,
  async create(config, options) {
    const { RedisBackend } = await import('./redis-backend.js');
    return new RedisBackend({ ...config, readOnly: options?.readOnly === true });
  },
};
