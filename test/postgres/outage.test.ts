/**
 * The database unreachable for every node at once, for much longer than a lease: real node
 * processes reach PostgreSQL through a TCP proxy that cuts their connections and refuses new
 * ones for 8 s. When it lets them in again, nobody may be declared dead (they were all alive),
 * no attempt may be charged, and no task may run twice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';
import type { EchoResult } from '../fixtures/steps/echo.js';
import { eventually } from '../conformance/context.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import { DATABASE_URL, dropSchemas, freshSchemaName, withAdmin } from '../helpers/postgres.js';
import { TcpProxy } from './tcp-proxy.js';

const schemas: string[] = [];
const proxies: TcpProxy[] = [];

afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await dropSchemas(schemas.splice(0));
});

async function tasksDone(schema: string): Promise<number> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ n: number }>(`SELECT coalesce(sum(done), 0)::int AS n FROM ${client.escapeIdentifier(schema)}.steps`);
    return rows[0]?.n ?? 0;
  });
}

describe('PostgreSQL outage longer than the lease', () => {
  it('declares no live node dead and charges no attempt when the database was unreachable for everybody', async () => {
    const proxy = await TcpProxy.start(DATABASE_URL);
    proxies.push(proxy);
    const schema = freshSchemaName();
    schemas.push(schema);
    const nodeOptions = { backend: proxy.urlFor(DATABASE_URL), schema, leaseMs: 2_000, checkProcessQueueInterval: 500 };
    const nodes = await Promise.all(Array.from({ length: 4 }, () => startNode(nodeOptions)));
    // This process only creates and follows the run, on a direct connection.
    DeFlow.register({ backend: DATABASE_URL, schema, worker: false });
    const tasks = Array.from({ length: 3_000 }, (_, i) => ({ value: i, ms: 20 }));
    const workflow = WorkFlow.create('outage').addStep({ step: echo, tasks }).run(); // default taskMaxFailCount: 1
    await eventually(async () => ((await tasksDone(schema)) >= 300 ? true : undefined), 60_000, 20);

    await proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 8_000)); // the outage: four leases long
    await proxy.restore();

    const result = await workflow.done().catch((error: unknown) => {
      const failed = error as { result?: { steps: { tasks: { failedCount: number; lostCount: number; error?: unknown }[] }[] } };
      const lost = failed.result?.steps[0]?.tasks.filter((task) => task.failedCount > 0 || task.lostCount > 0) ?? [];
      throw new Error(`the run failed: ${lost.length} tasks charged, e.g. ${JSON.stringify(lost[0]?.error ?? String(error))}`);
    });
    expect(result.status).toBe('succeeded');
    const recorded = result.steps[0]?.tasks ?? [];
    expect(recorded.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
    expect(recorded.filter((task) => task.failedCount > 0 || task.lostCount > 0)).toEqual([]);
    const problems = nodes.flatMap((node) => node.messages.filter((m) => m.type === 'problem').map((m) => String(m.message)));
    expect(problems.filter((message) => /declared dead/.test(message))).toEqual([]);
    // Every task ran once: nothing was taken from a live node, nothing handed back while held.
    const runs = new Map<number, number>();
    for (const node of nodes) {
      for (const m of node.messages) if (m.type === 'start') runs.set(Number(m.value), (runs.get(Number(m.value)) ?? 0) + 1);
    }
    expect(runs.size).toBe(tasks.length);
    expect([...runs].filter(([, n]) => n > 1)).toEqual([]);
  }, 120_000);
});
