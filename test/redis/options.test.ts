/** Connection settings, prefixes and the errors a user sees when Redis is unreachable or misconfigured. */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow from '../../src/index.js';
import { redisSettings } from '../../src/backends/redis/connection.js';
import { KeySpace, hashTag, jobId, parseJobId } from '../../src/backends/redis/keys.js';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { REDIS_URL } from '../helpers/redis.js';

afterEach(async () => {
  await DeFlow.unregister();
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 1));
    });
  });
}

describe('Redis connection settings', () => {
  it('reads redis:// and rediss:// URLs: credentials, database, TLS', () => {
    const plain = redisSettings('redis://app:s3cr%40t@cache.local:6380/4', undefined);
    expect(plain.options).toMatchObject({ host: 'cache.local', port: 6380, db: 4, username: 'app', password: 's3cr@t' });
    expect(plain.options.tls).toBeUndefined();
    expect(plain.location).toBe('redis://cache.local:6380/4');
    const secure = redisSettings('rediss://cache.local', undefined);
    expect(secure.options).toMatchObject({ host: 'cache.local', port: 6379, db: 0, tls: {} });
    expect(secure.location).toBe('rediss://cache.local:6379/0');
  });

  it("takes DeFlow's connection object", () => {
    const settings = redisSettings('redis:', { host: '10.0.0.5', port: 7000, password: 'pw', db: 2, tls: true, connectTimeout: 1234 });
    expect(settings.options).toMatchObject({ host: '10.0.0.5', port: 7000, password: 'pw', db: 2, tls: {}, connectTimeout: 1234 });
    expect(settings.location).not.toContain('pw');
    const custom = redisSettings('redis:', { tls: { servername: 'cache.internal', rejectUnauthorized: true } });
    expect(custom.options.tls).toEqual({ servername: 'cache.internal', rejectUnauthorized: true });
    expect(custom.location).toMatch(/^rediss:/);
  });

  it('backs off when reconnecting, up to retryMaxDelay, and gives up after maxAttempts', () => {
    const forever = redisSettings('redis:', { retryMaxDelay: 500 }).options.retryStrategy;
    expect([1, 2, 3, 10, 100].map((n) => forever?.(n))).toEqual([100, 200, 400, 500, 500]);
    const bounded = redisSettings('redis:', { maxAttempts: 3 }).options.retryStrategy;
    expect(bounded?.(3)).toBe(400);
    expect(bounded?.(4)).toBeNull();
  });

  it('rejects bad settings with a message naming the option', () => {
    expect(() => redisSettings('redis://host/x', undefined)).toThrow(/the database in "redis:\/\/host\/x" must be a number, got "x"/);
    expect(() => redisSettings('redis:', { maxAttempts: 0 })).toThrow(/connection.maxAttempts must be a positive integer \(reconnect attempts\), got 0/);
    expect(() => redisSettings('redis:', { retryMaxDelay: -1 })).toThrow(/connection.retryMaxDelay must be a positive integer \(milliseconds\), got -1/);
    expect(() => redisSettings('redis:', { db: -1 })).toThrow(/connection.db must be a non-negative integer, got -1/);
    expect(() => new KeySpace('app{1}')).toThrow(/options.prefix must be a non-empty string without "\{" or "\}", got "app\{1\}"/);
  });

  it('rejects ready() with a clear error when Redis cannot be reached', async () => {
    const port = await closedPort();
    const deflow = DeFlow.register({ connection: { host: '127.0.0.1', port }, startupTimeout: 0 });
    await expect(deflow.ready()).rejects.toThrow(new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/0: .*ECONNREFUSED.*Check that it runs`));
  });

  it('rejects ready() when the server has no such database, quoting Redis', async () => {
    const { hostname: host, port: given } = new URL(REDIS_URL);
    const port = Number(given || 6379);
    const where = `redis://${host}:${port}/99`.replace(/\./g, '\\.');
    const outOfRange = new RegExp(`^cannot use Redis at ${where}: the db index 99 is out of range .*Redis answered "ERR DB index is out of range"`);
    const byUrl = DeFlow.register({ backend: `redis://${host}:${port}/99` });
    await expect(byUrl.ready()).rejects.toThrow(outOfRange);
    await expect(byUrl.ready()).rejects.toMatchObject({ name: 'BackendError', code: 'ERR_BACKEND' });
    await DeFlow.unregister();
    const byConnection = DeFlow.register({ connection: { host, port, db: 99 } });
    await expect(byConnection.ready()).rejects.toThrow(outOfRange);
  });

  it('takes only digits as the database of a URL', () => {
    expect(() => DeFlow.register({ backend: 'redis://127.0.0.1:6379/abc' })).toThrow(/database index .*got "\/abc"/);
    for (const path of ['abc', '0x10', '1e1', '-1']) {
      expect(() => redisSettings(`redis://127.0.0.1:6379/${path}`, undefined)).toThrow(`the database in "redis://127.0.0.1:6379/${path}" must be a number, got "${path}"`);
    }
  });

  it('rejects a prefix Redis Cluster could not route, at register()', () => {
    expect(() => DeFlow.register({ backend: REDIS_URL, prefix: 'a{b}' })).toThrow(/without "\{" or "\}"/);
  });

  it('shows where it is connected, without the password', () => {
    const backend = new RedisBackend({ url: 'redis://:hunter2@127.0.0.1:6379/1', prefix: 'shop' });
    expect(backend.location).toBe('redis://127.0.0.1:6379/1 (prefix shop)');
  });
});

describe('Redis key layout', () => {
  it('puts every key of a workflow under one hash tag, and the indexes under the prefix tag', () => {
    const keys = new KeySpace('shop');
    const workflow = keys.workflow('order-42');
    expect(workflow).toHaveLength(13);
    expect(new Set(workflow.map(hashTag))).toEqual(new Set(['order-42']));
    expect(workflow.every((key) => key.startsWith('shop:{order-42}:'))).toBe(true);
    expect(new Set([...Object.values(keys.global), keys.holdings('7')].map(hashTag))).toEqual(new Set(['shop']));
    expect(keys.channel).toBe('shop:events');
  });

  it('round-trips job ids, whatever the workflow id holds', () => {
    const id = jobId('3:17', 'odd@id:with}braces');
    expect(parseJobId(id)).toEqual({ field: '3:17', n: '3', slot: '17', workflowId: 'odd@id:with}braces' });
    expect(parseJobId('nonsense')).toBeNull();
  });
});

describe('Redis scripts', () => {
  it('never use the KEYS command, nor build script text from data', () => {
    const root = fileURLToPath(new URL('../../src/backends/redis/', import.meta.url));
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)]));
    for (const file of files(root)) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/redis\.call\(\s*['"]keys['"]/i);
      expect(text, file).not.toMatch(/\.keys\(\s*['"`]/);
      expect(text, file).not.toMatch(/\bloadstring\b/);
    }
  });
});
