/**
 * The Redis ACL lines of docs/security.md, run as written on a server of our own: a user with
 * only those rights runs a whole workflow, and cannot touch another prefix's keys.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import DeFlow from '../../src/index.js';
import { runRestrictedWorkload } from '../helpers/restricted-workload.js';
import { OwnedRedis } from './server.js';

const SECURITY_DOC = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
const ACL_LINES = SECURITY_DOC.split('\n').filter((line) => line.startsWith('ACL SETUSER billing '));

describe('the documented Redis ACL', () => {
  let redis: OwnedRedis;
  let admin: Redis;
  beforeAll(async () => {
    redis = await OwnedRedis.start({ persistence: false });
    admin = new Redis(redis.port, '127.0.0.1');
    await admin.set('other:{x}:secret', 'not yours');
  });
  afterEach(async () => {
    await DeFlow.unregister();
    delete process.env.DEFLOW_REDIS_SCRIPTS;
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.destroy();
  });

  it('gives two variants in docs/security.md: Functions and EVAL', () => {
    expect(ACL_LINES).toHaveLength(2);
    expect(ACL_LINES[0]).toContain('+fcall +function|load');
    expect(ACL_LINES[1]).toContain('+evalsha +eval');
  });

  for (const [index, mode] of [[0, 'functions'], [1, 'eval']] as const) {
    it(`lets a user with only the ${mode} rights run a workflow, and nothing else`, async () => {
      const [command, ...args] = (ACL_LINES[index] ?? '').split(' ').slice(1);
      await admin.call('ACL', command ?? '', ...args);
      if (mode === 'eval') process.env.DEFLOW_REDIS_SCRIPTS = 'eval';
      await admin.call('FUNCTION', 'FLUSH'); // each variant loads its scripts itself
      await admin.call('ACL', 'LOG', 'RESET');
      await runRestrictedWorkload({ backend: `redis://billing:change-me@127.0.0.1:${redis.port}`, prefix: 'billing' });
      expect(await admin.call('ACL', 'LOG')).toEqual([]); // nothing deflow did was refused

      const user = new Redis(`redis://billing:change-me@127.0.0.1:${redis.port}`, { maxRetriesPerRequest: 1 });
      try {
        await expect(user.hget('other:{x}:secret', 'f')).rejects.toThrow(/NOPERM/);
        await expect(user.hset('billingx:{x}:k', 'f', '1')).rejects.toThrow(/NOPERM/);
        await expect(user.get('billing:{billing}:nodeseq')).rejects.toThrow(/NOPERM/); // a command it was not given
        await expect(user.publish('other:events', 'x')).rejects.toThrow(/NOPERM/);
        await expect(user.call('FLUSHALL')).rejects.toThrow(/NOPERM/);
      } finally {
        user.disconnect();
      }
      expect(await admin.get('other:{x}:secret')).toBe('not yours');
    });
  }
});
