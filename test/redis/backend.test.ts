/**
 * What the Redis backend adds beyond the conformance suite: TTL retention, listings and
 * their index repair, sweep, lease checks on claims, the outage grace on recovery, hint
 * reconciliation, and a server that lost the Functions library.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { KeySpace } from '../../src/backends/redis/keys.js';
import { eventually } from '../conformance/context.js';
import { REDIS_URL, countKeys, deletePrefix, expireRedisNode, randomPrefix } from '../helpers/redis.js';
import { OwnedRedis } from './server.js';

const filePrefix = randomPrefix('backend');
let count = 0;
let prefix = '';
let keys = new KeySpace('x');
let redis: Redis;
const opened: RedisBackend[] = [];

const double = new StepHandler<unknown, number, number>({ name: 'redis-backend-double', handler: (task) => task.data * 2 });

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});

afterAll(async () => {
  await redis.quit();
});

function fresh(): string {
  prefix = `${filePrefix}-${count++}`;
  keys = new KeySpace(prefix);
  return prefix;
}

async function backend(extra: Partial<ConstructorParameters<typeof RedisBackend>[0]> = {}): Promise<RedisBackend> {
  const b = new RedisBackend({ url: REDIS_URL, prefix, ...extra });
  await b.open();
  opened.push(b);
  return b;
}

afterEach(async () => {
  await DeFlow.unregister();
  for (const b of opened.splice(0)) await b.close();
  await deletePrefix(prefix);
});

describe('Redis retention', () => {
  it('gives a finished workflow’s keys the retention as TTL, and none with retention Infinity', async () => {
    await DeFlow.register({ backend: REDIS_URL, prefix: fresh() }).ready();
    const kept = await WorkFlow.create('kept', { retention: 60_000 }).addStep({ step: double, tasks: [1, 2] }).run().done();
    const forever = await WorkFlow.create('forever', { retention: Infinity }).addStep({ step: double, tasks: [1] }).run().done();
    const ttl = await redis.pttl(keys.workflow(kept.id)[0] ?? '');
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    for (const key of keys.workflow(kept.id)) {
      const left = await redis.pttl(key);
      expect(left === -2 || (left > 50_000 && left <= 60_000)).toBe(true); // absent (never written) or the same TTL
    }
    expect(await redis.pttl(keys.workflow(forever.id)[0] ?? '')).toBe(-1);
    expect(Number(await redis.zscore(keys.global.expiry, kept.id))).toBeGreaterThan(Date.now());
    expect(await redis.zscore(keys.global.expiry, forever.id)).toBeNull();
  });

  it('removes every key of a cleanOnDone workflow after the grace, leaving only the indexes', async () => {
    await DeFlow.register({ backend: REDIS_URL, prefix: fresh(), checkProcessQueueInterval: 200 }).ready();
    const result = await WorkFlow.create('clean', { cleanOnDone: true }).addStep({ step: double, tasks: [1, 2, 3] }).run().done();
    expect(result.status).toBe('succeeded');
    const tagged = async (): Promise<number> => (await redis.exists(...keys.workflow(result.id)));
    expect(await tagged()).toBeGreaterThan(0);
    await eventually(async () => ((await tagged()) === 0 ? true : undefined), 20_000, 200);
    // sweep (every second here) also drops its index entries.
    await eventually(async () => ((await redis.zscore(keys.global.expiry, result.id)) === null ? true : undefined), 20_000, 200);
    expect(await redis.hget(keys.global.wmeta, result.id)).toBeNull();
  });

  it('sweeps a workflow whose retention ran out, and lists it no more', async () => {
    fresh();
    const b = await backend();
    await DeFlow.register({ backend: REDIS_URL, prefix, checkProcessQueueInterval: 0 }).ready();
    const done = await WorkFlow.create('short', { retention: 300 }).addStep({ step: double, tasks: [1] }).run().done();
    await eventually(async () => ((await b.sweep(10)) > 0 ? true : undefined), 10_000, 50);
    expect(await b.getWorkflow(done.id)).toBeNull();
    expect(await b.listWorkflows({ limit: 10 })).toEqual([]);
    expect(await countKeys(`${prefix}:{${done.id}}`)).toBe(0);
  });
});

describe('Redis listings', () => {
  it('pages newest first, filters by name and status, and drops entries whose workflow vanished', async () => {
    await DeFlow.register({ backend: REDIS_URL, prefix: fresh() }).ready();
    const ids: string[] = [];
    for (const name of ['a', 'b', 'a', 'a']) ids.push((await WorkFlow.create(name).addStep({ step: double, tasks: [1] }).run().done()).id);
    const b = await backend();
    const all = await b.listWorkflows({ limit: 10 });
    expect(all.map((w) => w.id)).toEqual([...ids].reverse());
    const firstPage = await b.listWorkflows({ limit: 2 });
    const last = firstPage[1];
    if (last === undefined) throw new Error('short page');
    const secondPage = await b.listWorkflows({ limit: 2, before: { createdAt: last.createdAt, id: last.id } });
    expect([...firstPage, ...secondPage].map((w) => w.id)).toEqual([...ids].reverse());
    expect((await b.listWorkflows({ name: 'a', limit: 10 })).map((w) => w.id)).toEqual([ids[3], ids[2], ids[0]]);
    expect(await b.listWorkflows({ name: 'a', status: 'failed', limit: 10 })).toEqual([]);
    // A workflow whose keys are gone (expired, flushed) disappears from listings and indexes.
    await redis.del(...keys.workflow(ids[1] ?? ''));
    expect((await b.listWorkflows({ limit: 10 })).map((w) => w.id)).not.toContain(ids[1]);
    await eventually(async () => ((await redis.hget(keys.global.wmeta, ids[1] ?? '')) === null ? true : undefined));
  });
});

describe('Redis index by business key', () => {
  /** Every index entry of the prefix, by index: what listings would walk. */
  async function indexes(): Promise<Record<string, unknown>> {
    const g = keys.global;
    return {
      bytime: (await redis.zrange(g.bytime, 0, -1)).length,
      byname: await redis.zrange(g.byname, 0, -1),
      bykey: await redis.zrange(g.bykey, 0, -1),
      wmeta: Object.keys(await redis.hgetall(g.wmeta)),
      wkey: await redis.hgetall(g.wkey),
    };
  }

  it('keeps one entry per workflow when starts of one id race (also with other names and keys), and none once removed or swept', async () => {
    await DeFlow.register({ backend: REDIS_URL, prefix: fresh(), checkProcessQueueInterval: 0 }).ready();
    const start = (name: string, key: string): Promise<WorkFlow> => WorkFlow.create(name, { id: 'dup', key }).addStep({ step: double, tasks: [1] }).run().started();
    const outcomes = await Promise.allSettled([start('n', 'k'), start('n', 'k'), start('other', 'k'), start('n', 'k2'), start('n', 'k')]);
    const created = outcomes.filter((o) => o.status === 'fulfilled' && o.value.created === true);
    expect(created).toHaveLength(1);
    const record = await WorkFlow.getById('dup');
    const entries = await indexes();
    expect(entries).toMatchObject({ bytime: 1, wmeta: ['dup'], wkey: { dup: record?.key } });
    expect((entries.byname as string[]).map((m) => m.split('\0')[0])).toEqual([record?.name]);
    expect((entries.bykey as string[]).map((m) => m.split('\0')[0])).toEqual([record?.key]);
    await record?.clean();
    expect(await indexes()).toEqual({ bytime: 0, byname: [], bykey: [], wmeta: [], wkey: {} });
    // Retention drops the key entry too.
    const b = await backend();
    await WorkFlow.create('short', { key: 'k3', retention: 300 }).addStep({ step: double, tasks: [1] }).run().done();
    expect((await indexes()).bykey).toHaveLength(1);
    await eventually(async () => ((await b.sweep(10)) > 0 ? true : undefined), 10_000, 50);
    expect(await indexes()).toEqual({ bytime: 0, byname: [], bykey: [], wmeta: [], wkey: {} });
  });
});

describe('Redis leases', () => {
  it('refuses claims from a node that is not registered', async () => {
    fresh();
    const b = await backend();
    await expect(b.claim({ nodeId: 'nobody', workflowId: 'w', stepId: '1', limit: 1 })).rejects.toMatchObject({ code: 'ERR_LEASE_LOST' });
  });

  it('declares a node dead only once the recovering process has been connected for that node’s lease', async () => {
    fresh();
    const first = await backend();
    await first.registerNode({ id: 'quiet', host: 'test', pid: 1, handlers: [], leaseMs: 400 });
    await expireRedisNode(prefix, 'quiet', { keepLeaseLength: true }); // its lease runs out
    // A process that just (re)connected does not judge others yet: they may have been cut off too.
    const late = await backend();
    expect((await late.recoverExpired(10)).nodesRemoved).toBe(0);
    expect((await late.listNodes()).map((n) => n.id)).toEqual(['quiet']);
    // The process connected long enough (400 ms, if it is not yet) does.
    await eventually(async () => ((await first.recoverExpired(10)).nodesRemoved === 1 ? true : undefined));
    expect(await first.heartbeat('quiet', 400)).toEqual({ alive: false });
  });

  it('finds work whose runnable hint was lost (reconciliation)', async () => {
    await DeFlow.register({ backend: REDIS_URL, prefix: fresh(), worker: false }).ready();
    const workflow = WorkFlow.create('lost-hint').addStep({ step: double, tasks: [1, 2, 3] }).run();
    await workflow.started();
    // As if the process that created it died between its two calls.
    await redis.del(keys.global.runnable, keys.global.hintv);
    await DeFlow.unregister();
    await DeFlow.register({ backend: REDIS_URL, prefix, checkProcessQueueInterval: 100 }).ready();
    const result = await (await WorkFlow.getById(workflow.id))?.done();
    expect(result?.steps[0]?.tasks.map((t) => t.result)).toEqual([2, 4, 6]);
  });
});

describe('Redis delayed retries', () => {
  it('runs a failed task again once its retry delay passed, on the backend clock', async () => {
    await DeFlow.register({ backend: REDIS_URL, prefix: fresh() }).ready();
    const attempts: number[] = [];
    const flaky = new StepHandler<unknown, number, number>({
      name: 'redis-backend-flaky',
      handler(task) {
        attempts.push(Date.now());
        if (task.failedCount === 0) throw new Error('first attempt fails');
        return task.data;
      },
    });
    const result = await WorkFlow.create('delayed')
      .addStep({ step: flaky, tasks: [7], options: { taskMaxFailCount: 2, taskFailRetryDelay: 400 } })
      .run()
      .done();
    expect(result.steps[0]?.tasks[0]).toMatchObject({ result: 7, failedCount: 1 });
    expect((attempts[1] ?? 0) - (attempts[0] ?? 0)).toBeGreaterThanOrEqual(350);
  });
});

describe('Redis Functions', () => {
  let server: OwnedRedis | null = null;

  afterEach(async () => {
    await DeFlow.unregister();
    await server?.destroy();
    server = null;
  });

  it('loads the library again when the server lost it', async () => {
    server = await OwnedRedis.start();
    const own = new Redis(server.url);
    try {
      await DeFlow.register({ backend: server.url, prefix: 'functions' }).ready();
      expect((await WorkFlow.create('before').addStep({ step: double, tasks: [1] }).run().done()).status).toBe('succeeded');
      await own.call('FUNCTION', 'FLUSH');
      expect((await WorkFlow.create('after').addStep({ step: double, tasks: [2] }).run().done()).steps[0]?.tasks[0]?.result).toBe(4);
      expect(String(await own.call('FUNCTION', 'LIST'))).toContain('deflow_');
    } finally {
      await own.quit();
    }
  });
});
