/**
 * A workflow handle misses no 'step' or 'done' event across a PostgreSQL restart
 * (`pg_ctl restart -m immediate` on a test-owned cluster) while the workflow runs on another
 * process; the handle's process reconnects late (frozen before it LISTENs again), so events
 * published meanwhile never reach it by NOTIFY. Each step is reported once, 'done' once, last.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import DeFlow from '../../src/index.js';
import { disarmAllFaults } from '../../src/fault-points.js';
import { eventually, sleep } from '../conformance/context.js';
import { freezeOnEventsReconnect, runCountedChain, within } from '../helpers/handle-events.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import { freshSchemaName } from '../helpers/postgres.js';
import { OwnedPostgres } from './server.js';

let server: OwnedPostgres;

beforeAll(async () => {
  server = await OwnedPostgres.create();
  await server.start();
}, 60_000);

afterAll(async () => {
  await server.destroy();
});

afterEach(async () => {
  disarmAllFaults();
  await DeFlow.unregister();
  await stopAllNodes();
});

/** Runs the chain across a restart; `forget` empties the replay table before the handle's process listens again. */
async function acrossRestart(forget: boolean): Promise<void> {
  const schema = freshSchemaName();
  const options = { backend: server.url, schema, leaseMs: 10_000, checkProcessQueueInterval: 250 };
  await startNode(options);
  await DeFlow.register({ ...options, worker: false }).ready();
  // As after an outage longer than the minute the events table keeps events for replay.
  const emptyReplayTable = (): void => void execFileSync('psql', [server.url, '-Atc', `DELETE FROM ${schema}.events`]);
  const frozen = freezeOnEventsReconnect(4_000, forget ? emptyReplayTable : undefined);
  const run = runCountedChain('across-restart', 8, 250);
  await eventually(() => (run.steps.size >= 1 ? true : undefined), 30_000);
  await server.restartImmediate();
  const result = await within(run.workflow.done(), 45_000, 'done()');
  expect(result.status).toBe('succeeded');
  expect(frozen()).toBe(1);
  await sleep(500); // nothing more may come
  expect(Object.fromEntries(run.steps)).toEqual(Object.fromEntries(result.steps.map((step) => [step.id, 1])));
  expect(run.steps.size).toBe(8);
  expect(run.done()).toBe(1);
}

describe('workflow handle across a PostgreSQL restart', () => {
  it("reports each step once and 'done' once, though NOTIFYs were lost while it reconnected (replayed from the events table)", async () => {
    await acrossRestart(false);
  }, 90_000);

  it("reports each step once and 'done' once when the missed events are no longer kept for replay", async () => {
    await acrossRestart(true);
  }, 90_000);
});
