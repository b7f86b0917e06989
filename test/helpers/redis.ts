/**
 * Redis for tests: the server at $REDIS_URL (default redis://127.0.0.1:6379), a random key
 * prefix per test file (and per fresh store), and cleanup with SCAN + DEL of that prefix only.
 */
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { parseRedisClusterUrl } from '../../src/backends/redis/config.js';
import { KeySpace } from '../../src/backends/redis/keys.js';
import type { BackendUnderTest, CorruptTarget } from './backends.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

// Every script call checks that its keys share one hash tag, as Redis Cluster requires.
process.env.DEFLOW_REDIS_ASSERT_SLOTS = '1';

/** A connected client of `url`: a Cluster for a `redis+cluster://` URL (commands route by key). */
async function connectTo(url: string): Promise<Redis | Cluster> {
  if (url.startsWith('redis+cluster://')) {
    const cluster = new Cluster(parseRedisClusterUrl(url).nodes, { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } });
    await cluster.connect();
    return cluster;
  }
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  return client;
}

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
    expireNode(store, nodeId) {
      return expireRedisNode(String(store.prefix), nodeId, { keepLeaseLength: false, url });
    },
    corruptRecord(store, target) {
      return corruptRedisRecord(String(store.prefix), target, url);
    },
  };
}

// The node's score in the nodes ZSET is its lease expiry (Redis clock); its record in nodeinfo
// starts "<tag>|<leaseMs>|". A recoverer judges a node only once it has itself been connected
// for that leaseMs (see expire-nodes.lua), so unless told to keep it, it becomes 0 as well.
const EXPIRE_NODE = `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], string.format('%d', now - 1), ARGV[1])
if ARGV[2] == '0' then
  local info = redis.call('HGET', KEYS[2], ARGV[1])
  if info then redis.call('HSET', KEYS[2], ARGV[1], (string.gsub(info, '^(%d+)|%d+|', '%1|0|'))) end
end
return 1`;

/**
 * Makes a node's lease end a millisecond ago on the Redis clock. keepLeaseLength: leave the
 * lease length on record, so the "connected for that node's lease" rule still applies.
 */
export async function expireRedisNode(prefix: string, nodeId: string, options: { keepLeaseLength: boolean; url?: string }): Promise<void> {
  const client = await connectTo(options.url ?? REDIS_URL);
  try {
    const { global } = new KeySpace(prefix);
    const found = await client.eval(EXPIRE_NODE, 2, global.nodes, global.nodeinfo, nodeId, options.keepLeaseLength ? '1' : '0');
    if (found !== 1) throw new Error(`no node ${nodeId} under the prefix ${prefix}`);
  } finally {
    await client.quit();
  }
}

/** Step attribute names in the `st` hash (src/backends/redis/lua/lib/insert.lua). */
const STEP_ATTRIBUTE = { handler: 'handler', data: 'data', options: 'options', error: 'err' } as const;

/** HSETs one stored field of a step (`st`), of a task's data (`td`) or of the workflow (`wf`) under `prefix`. */
export async function corruptRedisRecord(prefix: string, target: CorruptTarget, url = REDIS_URL): Promise<void> {
  const client = await connectTo(url);
  try {
    const [wf = '', sx = '', st = '', td = '', js = ''] = new KeySpace(prefix).workflow(target.workflowId);
    const { stepId } = target;
    if (stepId === null) {
      if (target.field !== 'number' || (await client.hexists(wf, target.name)) !== 1) throw new Error(`nothing to corrupt for ${JSON.stringify(target)}`);
      await client.hset(wf, target.name, target.value);
      return;
    }
    const n = await client.hget(sx, stepId);
    if (n === null) throw new Error(`no step ${target.stepId} of workflow ${target.workflowId} under the prefix ${prefix}`);
    if (target.field === 'task data') {
      if ((await client.hexists(td, `${n}:${target.seq}`)) !== 1) throw new Error(`no task ${target.seq} of step ${target.stepId}`);
      await client.hset(td, `${n}:${target.seq}`, target.value);
    } else if (target.field === 'job state') {
      await client.hset(js, `${n}:${target.seq}`, target.value);
    } else if (target.field === 'number') {
      if ((await client.hexists(st, `${n}:${target.name}`)) !== 1) throw new Error(`no attribute ${target.name} of step ${target.stepId}`);
      await client.hset(st, `${n}:${target.name}`, target.value);
    } else {
      await client.hset(st, `${n}:${STEP_ATTRIBUTE[target.field]}`, target.value);
    }
  } finally {
    await client.quit();
  }
}
