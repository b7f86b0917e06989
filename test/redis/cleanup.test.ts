/**
 * The cleanup command of docs/backends/redis.md, run as written against two apps whose
 * prefixes are `P` and `P:b`: it removes every key of `P` and none of `P:b`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import { REDIS_URL, deletePrefix, randomPrefix } from '../helpers/redis.js';

const run = promisify(execFile);
const base = randomPrefix('cleanup');
const other = `${base}:b`;

afterEach(async () => {
  await DeFlow.unregister();
  await deletePrefix(base); // `${base}:*` covers `${base}:b` too
});

const idle = new StepHandler<unknown, number, number>({ name: 'cleanup-idle', handler: (task) => task.data });

async function keysMatching(client: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...page);
  } while (cursor !== '0');
  return keys.sort();
}

/** A workflow and a node registration (and their indexes) under `prefix`. */
async function someData(prefix: string): Promise<void> {
  await DeFlow.register({ backend: REDIS_URL, prefix, checkProcessQueueInterval: 0 }).ready();
  await WorkFlow.create('cleanup').addStep({ step: idle, tasks: [1, 2, 3] }).run().started();
  await DeFlow.unregister();
}

describe('Redis: removing one app’s data', () => {
  it('the documented command removes the keys of its prefix only, not those of a longer prefix', async () => {
    await someData(base);
    await someData(other);
    const client = new Redis(REDIS_URL);
    try {
      // A workflow id with spaces and quotes stays one key through xargs.
      await client.set(`${base}:{odd id "with" 'quotes'}:wf`, 'x');
      const others = await keysMatching(client, `${other}:{*`);
      expect(others.length).toBeGreaterThan(0);
      // The old advice, `<prefix>:*`, would have taken the other app's keys too.
      expect(await keysMatching(client, `${base}:*`)).toEqual(expect.arrayContaining(others));

      await run('sh', ['-c', `redis-cli -u "$URL" --scan --pattern "$PREFIX:{*" | xargs -r -d '\\n' -n 500 redis-cli -u "$URL" unlink`], {
        env: { ...process.env, URL: REDIS_URL, PREFIX: base },
      });

      expect(await keysMatching(client, `${base}:{*`)).toEqual([]);
      expect(await keysMatching(client, `${other}:{*`)).toEqual(others);
    } finally {
      client.disconnect();
    }
  });
});
