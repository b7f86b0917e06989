/**
 * Redis for tests: the server at $REDIS_URL (default redis://127.0.0.1:6379), a random key
 * prefix per test file (and per fresh store), and cleanup with SCAN + DEL of that prefix only.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BackendUnderTest } from './backends.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

// Every script call checks that its keys share one hash tag, as Redis Cluster requires.
process.env.DEFLOW_REDIS_ASSERT_SLOTS = '1';

/** A prefix no other test file uses. */
export function randomPrefix(label = 'test'): string {
  return `deflow-${label}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under `prefix:` (tests only: SCAN, never KEYS). */
export async function deletePrefix(prefix: string, url = REDIS_URL): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  let removed = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    await client.quit();
  }
  return removed;
}

/** Counts the keys under `prefix:`. */
export async function countKeys(prefix: string, url = REDIS_URL): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  let count = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
  } finally {
    await client.quit();
  }
  return count;
}

export function redisUnderTest(url = REDIS_URL): BackendUnderTest {
  const filePrefix = randomPrefix('conf');
  const prefixes: string[] = [];
  return {
    name: 'redis',
    fresh() {
      const prefix = `${filePrefix}-${prefixes.length}`;
      prefixes.push(prefix);
      return Promise.resolve({ backend: url, prefix });
    },
    async cleanup() {
      for (const prefix of prefixes.splice(0)) await deletePrefix(prefix, url);
    },
  };
}
