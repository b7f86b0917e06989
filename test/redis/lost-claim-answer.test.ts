/**
 * A claim whose answer never comes back (the connection drops after Redis ran it, as when the
 * server is killed between applying a write and replying) must not leave its jobs leased to a
 * node that lives on: the node's next heartbeat with the jobs it holds hands them back.
 * Found by the chaos suite (a workflow whose first hook was never run, for good).
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { oneStepWorkflow } from '../helpers/postgres.js';
import { deletePrefix, randomPrefix, REDIS_URL } from '../helpers/redis.js';

/** Forwards everything to Redis until told to swallow replies; then drops the connection. */
class ReplySwallower {
  swallow = false;
  private constructor(readonly server: net.Server) {}

  static async start(target: URL): Promise<ReplySwallower> {
    const proxy = new ReplySwallower(
      net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 6379), target.hostname);
        for (const socket of [client, upstream]) socket.on('error', () => undefined);
        client.on('data', (data) => upstream.write(data));
        upstream.on('data', (data) => {
          if (!proxy.swallow) return void client.write(data);
          client.destroy();
          upstream.destroy();
        });
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      }),
    );
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', () => resolve()));
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('Redis: a claim whose answer was lost', () => {
  it('is handed back by the next heartbeat with held jobs, while its node lives on', async () => {
    const prefix = randomPrefix('lostclaim');
    cleanups.push(() => deletePrefix(prefix));
    const proxy = await ReplySwallower.start(new URL(REDIS_URL));
    cleanups.push(() => new Promise((resolve) => proxy.server.close(resolve)));
    const unlucky = new RedisBackend({ url: proxy.url, prefix });
    const other = new RedisBackend({ url: REDIS_URL, prefix });
    cleanups.push(() => unlucky.close(), () => other.close());
    await Promise.all([unlucky.open(), other.open()]);
    await unlucky.registerNode({ id: 'unlucky', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    await other.registerNode({ id: 'other', host: 'test', pid: 2, handlers: [], leaseMs: 60_000 });
    await unlucky.createWorkflow(oneStepWorkflow('lost-answer', 1));

    // Its first claim in the workflow: Redis runs it, the answer is lost.
    proxy.swallow = true;
    await expect(unlucky.claim({ nodeId: 'unlucky', workflowId: 'lost-answer', stepId: '1', limit: 1 })).rejects.toThrow(/lost the connection/);
    proxy.swallow = false;

    // The node holds nothing and says so; its lease stays valid for a minute.
    const deadline = Date.now() + 20_000;
    let claimed = 0;
    while (claimed === 0 && Date.now() < deadline) {
      const beat = await unlucky.heartbeat('unlucky', 60_000, []).catch(() => null); // null: still reconnecting
      if (beat !== null) expect(beat.alive).toBe(true);
      claimed = (await other.claim({ nodeId: 'other', workflowId: 'lost-answer', stepId: '1', limit: 1 })).jobs.length;
      if (claimed === 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(claimed).toBe(1);
  });
});
