/** Redis Cluster settings: the `redis+cluster://` URL and `connection.cluster`, checked at register(). */
import { describe, expect, it } from 'vitest';
import type { BackendInput } from '../../src/backends/descriptor.js';
import { chooseBackend } from '../../src/backends/registry.js';
import { parseRedisClusterUrl } from '../../src/backends/redis/config.js';
import { redisSettings } from '../../src/backends/redis/connection.js';

function input(url: string, connection?: unknown): BackendInput {
  return { url, connection, prefix: undefined, schema: undefined, pollIntervalMs: 1000, recoverIntervalMs: 1000 };
}

describe('Redis Cluster settings', () => {
  it('reads redis+cluster:// URLs: nodes, credentials, TLS', () => {
    expect(parseRedisClusterUrl('redis+cluster://app:s3cr%40t@10.0.0.1:7000,10.0.0.2:7001,[::1]/0')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 6379 },
      ],
      username: 'app',
      password: 's3cr@t',
      tls: false,
    });
    const secure = redisSettings('rediss+cluster://:pw@cache:7000', undefined);
    expect(secure.cluster).toEqual([{ host: 'cache', port: 7000 }]);
    expect(secure.options).toMatchObject({ password: 'pw', tls: {} });
    expect(secure.location).toBe('rediss+cluster://cache:7000');
  });

  it("takes DeFlow's connection object with cluster", () => {
    const settings = redisSettings('redis:', { cluster: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }], password: 'pw' });
    expect(settings.cluster).toEqual([{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }]);
    expect(settings.location).toBe('redis+cluster://a:7000,b:7001');
    expect(chooseBackend(input('redis:', { cluster: [{ host: 'a', port: 7000 }] })).kind).toBe('redis');
    expect(chooseBackend(input('redis+cluster://a:7000,b:7001')).kind).toBe('redis');
  });

  it('rejects what a cluster cannot use, naming the option', () => {
    const choose = (connection: unknown): unknown => chooseBackend(input('redis:', connection));
    expect(() => chooseBackend(input('redis+cluster://a:7000/2'))).toThrow(/a Redis Cluster has database 0 only, got "2"/);
    expect(() => chooseBackend(input('redis+cluster://a:x'))).toThrow(/"a:x" in "redis\+cluster:\/\/a:x" is not a host\[:port\]/);
    expect(() => chooseBackend(input('redis+cluster://a:1', { cluster: [{ host: 'b', port: 2 }] }))).toThrow(/not both/);
    expect(() => choose({ cluster: [] })).toThrow(/connection.cluster must be a non-empty array of \{ host, port \}/);
    expect(() => choose({ cluster: [{ host: 'a' }] })).toThrow(/connection.cluster\[0\].port must be a positive integer/);
    expect(() => choose({ cluster: [{ host: 'a', port: 1 }], host: 'b' })).toThrow(/connection.host and .*connection.cluster exclude each other/);
    expect(() => choose({ cluster: [{ host: 'a', port: 1 }], db: 3 })).toThrow(/connection.db must be 0 or absent with cluster/);
  });
});
