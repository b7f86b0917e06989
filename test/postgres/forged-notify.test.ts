/**
 * NOTIFYs any connected role can send must neither suppress nor delay a handle's real events:
 * forged numbered lines that take the ids the real step and workflow events will get, and a
 * flood of `#<id>` lines (each one used to cost every listener a query).
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import DeFlow from '../../src/index.js';
import { eventually, sleep } from '../conformance/context.js';
import { runCountedChain, within } from '../helpers/handle-events.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import { DATABASE_URL, dropSchemas, freshSchemaName, withAdmin } from '../helpers/postgres.js';

const schemas: string[] = [];

afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
});

afterAll(async () => {
  await dropSchemas(schemas);
});

/**
 * A fresh schema, a node process that runs the work, and this process registered without
 * workers: the handle learns of steps and ends only through NOTIFY, as in any process but the
 * one that ran them.
 */
async function registered(): Promise<string> {
  const schema = freshSchemaName();
  schemas.push(schema);
  const options = { backend: DATABASE_URL, schema, checkProcessQueueInterval: 200 };
  await DeFlow.register({ ...options, worker: false }).ready();
  await startNode(options);
  return schema;
}

async function notify(schema: string, payloads: readonly string[]): Promise<void> {
  await withAdmin(async (client) => {
    for (const payload of payloads) await client.query('SELECT pg_notify($1, $2)', [`deflow.${schema}`, payload]);
  });
}

/** The number of reads (sequential or by index) of the schema's events table so far. */
async function eventsTableScans(schema: string): Promise<number> {
  return withAdmin(async (client) => {
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ n: string }>(
      "SELECT (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::text AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'events'",
      [schema],
    );
    return Number(rows[0]?.n ?? 0);
  });
}

it('delivers the real step and workflow events though forged lines took their ids first', async () => {
  const schema = await registered();
  const next = await withAdmin(async (client) => {
    const { rows } = await client.query<{ last: string | null }>(`SELECT pg_sequence_last_value(pg_get_serial_sequence($1, 'id'))::text AS last`, [
      `${client.escapeIdentifier(schema)}.events`,
    ]);
    return Number(rows[0]?.last ?? 0) + 1;
  });
  // Every id the next 600 stored events will get, announced with other content.
  const lines = Array.from({ length: 600 }, (_, i) => `${next + i} {"type":"wake"}`);
  const payloads: string[] = [];
  for (let i = 0; i < lines.length; i += 200) payloads.push(lines.slice(i, i + 200).join('\n'));
  await notify(schema, payloads);
  await sleep(500); // the forged lines arrive first

  const run = runCountedChain('forged-ids', 4, 20);
  const result = await within(run.workflow.done(), 30_000, 'done()');
  expect(result.status).toBe('succeeded');
  await sleep(300); // nothing more may come
  expect(Object.fromEntries(run.steps)).toEqual(Object.fromEntries(result.steps.map((step) => [step.id, 1])));
  expect(run.done()).toBe(1);
}, 60_000);

it('reads the #<id> lines of a notification in one query: a flood of them costs little', async () => {
  const schema = await registered();
  const before = await eventsTableScans(schema);
  const flood = Array.from({ length: 2_600 }, () => '#1').join('\n'); // under the 8000-byte payload limit
  const notifications = 11; // 28,600 lines
  await notify(schema, Array.from({ length: notifications }, () => flood));

  const run = runCountedChain('under-flood', 3, 20);
  const result = await within(run.workflow.done(), 30_000, 'done() under a flood of #<id> lines');
  expect(result.status).toBe('succeeded');
  expect(run.steps.size).toBe(3);
  // Statistics reach pg_stat_user_tables within a few seconds: wait for the flood's reads to show.
  const reads = await eventually(async () => {
    const n = (await eventsTableScans(schema)) - before;
    return n >= notifications ? n : undefined;
  }, 30_000, 500);
  await sleep(2_000);
  const settled = (await eventsTableScans(schema)) - before;
  expect(reads).toBeGreaterThanOrEqual(notifications);
  expect(settled).toBeLessThan(500); // one read per notification (and a few of the engine's), not one per line
}, 90_000);
