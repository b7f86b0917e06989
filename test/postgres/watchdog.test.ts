/**
 * The watchdog's outage grace, through the contract: leases are judged on PostgreSQL's clock,
 * but a silence (no heartbeat from anybody for more than half a lease, as when the database
 * was unreachable for everybody) gives every node whose lease ran out since it began a full
 * lease from its end; while somebody heartbeats, a node that stops is declared dead at its
 * lease as always. A silence is made by moving the nodes' instants into the past, not waited for.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import { backdateNodes, dropSchemas, freshSchemaName, openPostgresBackend } from '../helpers/postgres.js';

const LEASE_MS = 400;
const schemas: string[] = [];
const opened: PostgresBackend[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((backend) => backend.close()));
  await dropSchemas(schemas.splice(0));
});

async function freshBackend(): Promise<PostgresBackend> {
  const schema = freshSchemaName();
  schemas.push(schema);
  const backend = await openPostgresBackend(schema);
  opened.push(backend);
  return backend;
}

/** As if `ms` passed without a heartbeat from the nodes listed (default: all) of the current test. */
async function silence(ms: number, nodeIds?: readonly string[]): Promise<void> {
  await backdateNodes(schemas.at(-1) ?? '', ms, nodeIds);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Heartbeats `nodeId` every lease / 4 until stopped. */
function keepBeating(backend: PostgresBackend, nodeId: string): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      expect(await backend.heartbeat(nodeId, LEASE_MS)).toEqual({ alive: true });
      await sleep(LEASE_MS / 4);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Runs the watchdog until `nodeId` is gone; the milliseconds from `since` until then. */
async function msUntilDeclaredDead(backend: PostgresBackend, nodeId: string, since: number): Promise<number> {
  for (;;) {
    await backend.recoverExpired(10);
    if (!(await backend.listNodes()).some((node) => node.id === nodeId)) return Date.now() - since;
    if (Date.now() - since > 20_000) throw new Error(`${nodeId} was never declared dead`);
    await sleep(10);
  }
}

describe('PostgreSQL watchdog', () => {
  it('declares a node that stops dead at its lease while another one heartbeats', async () => {
    const backend = await freshBackend();
    await backend.registerNode({ id: 'survivor', host: 'test', pid: 1, handlers: [], leaseMs: LEASE_MS });
    const registeredAt = Date.now(); // sent no later than this
    await backend.registerNode({ id: 'quiet', host: 'test', pid: 2, handlers: [], leaseMs: LEASE_MS });
    const beating = keepBeating(backend, 'survivor');
    try {
      const took = await msUntilDeclaredDead(backend, 'quiet', registeredAt);
      expect(took).toBeGreaterThanOrEqual(LEASE_MS - 5); // instants are kept in whole ms
      expect(took).toBeLessThan(LEASE_MS + 2_000); // generous: the bound is the lease (+ the watchdog interval)
      expect((await backend.listNodes()).map((node) => node.id)).toEqual(['survivor']);
    } finally {
      await beating.stop();
    }
  });

  it('gives every node a full lease after a silence, then declares the one that stays quiet dead', async () => {
    const backend = await freshBackend();
    await backend.registerNode({ id: 'back', host: 'test', pid: 1, handlers: [], leaseMs: LEASE_MS });
    await backend.registerNode({ id: 'gone', host: 'test', pid: 2, handlers: [], leaseMs: LEASE_MS });
    // Nobody heartbeats for three leases: both leases run out, as in an outage.
    await silence(3 * LEASE_MS);
    // The first heartbeat after the silence: 'gone' gets a whole lease from now to show up.
    const silenceEnded = Date.now(); // the heartbeat reaches the server after this
    expect(await backend.heartbeat('back', LEASE_MS)).toEqual({ alive: true });
    expect((await backend.recoverExpired(10)).nodesRemoved).toBe(0);
    expect((await backend.listNodes()).map((node) => node.id).sort()).toEqual(['back', 'gone']);
    const beating = keepBeating(backend, 'back');
    try {
      expect(await msUntilDeclaredDead(backend, 'gone', silenceEnded)).toBeGreaterThanOrEqual(LEASE_MS - 5);
      expect((await backend.listNodes()).map((node) => node.id)).toEqual(['back']);
    } finally {
      await beating.stop();
    }
  });

  it('declares a node whose lease ran out while others heartbeated dead at once, even after a later silence', async () => {
    const backend = await freshBackend();
    await backend.registerNode({ id: 'survivor', host: 'test', pid: 1, handlers: [], leaseMs: LEASE_MS });
    await backend.registerNode({ id: 'dead', host: 'test', pid: 2, handlers: [], leaseMs: LEASE_MS });
    await silence(2 * LEASE_MS, ['dead']); // 'dead' runs out of lease while 'survivor' heartbeats (nobody judges yet)
    await silence(3 * LEASE_MS); // then a silence
    expect(await backend.heartbeat('survivor', LEASE_MS)).toEqual({ alive: true });
    // The silence spares only leases that ran out during or after it.
    expect((await backend.recoverExpired(10)).nodesRemoved).toBe(1);
    expect((await backend.listNodes()).map((node) => node.id)).toEqual(['survivor']);
  });

  it('lets a node that comes back within the grace keep its jobs', async () => {
    const backend = await freshBackend();
    await backend.registerNode({ id: 'first', host: 'test', pid: 1, handlers: [], leaseMs: LEASE_MS });
    await backend.registerNode({ id: 'second', host: 'test', pid: 2, handlers: [], leaseMs: LEASE_MS });
    await silence(3 * LEASE_MS);
    expect(await backend.heartbeat('first', LEASE_MS)).toEqual({ alive: true });
    expect((await backend.recoverExpired(10)).nodesRemoved).toBe(0);
    // The second one's heartbeat lands within its grace: it is alive, nobody was charged.
    expect(await backend.heartbeat('second', LEASE_MS)).toEqual({ alive: true });
    expect((await backend.recoverExpired(10)).nodesRemoved).toBe(0);
    expect((await backend.listNodes()).map((node) => node.id).sort()).toEqual(['first', 'second']);
  });
});
