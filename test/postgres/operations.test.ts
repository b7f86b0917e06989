/**
 * Operating the PostgreSQL backend: migrations when nodes start together, option and
 * connection errors, the watchdog's once-per-interval coordination, bounded retention,
 * events too big for a NOTIFY payload, and no connection left behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { BackendError, ValidationError, WorkFlow } from '../../src/index.js';
import type { BackendEvent, NextTaskEvent } from '../../src/backends/backend.js';
import { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import { bundledSources } from '../../src/backends/postgres/migrator.js';
import { eventually } from '../conformance/context.js';
import echo from '../fixtures/steps/echo.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import { DATABASE_URL, connectionsOf, dropSchemas, expirePostgresNode, freshSchemaName, oneStepWorkflow, openPostgresBackend, withAdmin } from '../helpers/postgres.js';

const schemas: string[] = [];
const opened: PostgresBackend[] = [];
function fresh(): string {
  const schema = freshSchemaName();
  schemas.push(schema);
  return schema;
}
async function open(schema: string, interval = 0): Promise<PostgresBackend> {
  const backend = await openPostgresBackend(schema, interval);
  opened.push(backend);
  return backend;
}

afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
  await Promise.all(opened.splice(0).map((backend) => backend.close()));
  await dropSchemas(schemas.splice(0));
});

async function count(schema: string, sql: string): Promise<number> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ n: number }>(sql.replaceAll('$schema', client.escapeIdentifier(schema)));
    return rows[0]?.n ?? 0;
  });
}

describe('PostgreSQL operations', () => {
  it('migrates a new schema once when several nodes start together', async () => {
    const schema = fresh();
    await Promise.all(Array.from({ length: 5 }, () => open(schema)));
    const versions = await withAdmin(async (client) => {
      const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${client.escapeIdentifier(schema)}.migrations ORDER BY version`);
      return rows.map((row) => row.version);
    });
    const bundled = bundledSources().migrations.map((migration) => migration.version);
    expect(versions).toEqual(bundled);
    // Opening again applies nothing.
    await open(schema);
    expect(await count(schema, 'SELECT count(*)::int AS n FROM $schema.migrations')).toBe(bundled.length);
  });

  it('rejects a schema name it cannot use at register(), saying what a valid one looks like', () => {
    expect(() => DeFlow.register({ backend: DATABASE_URL, schema: 'Bad-Name' })).toThrow(ValidationError);
    expect(() => DeFlow.register({ backend: DATABASE_URL, schema: 'Bad-Name' })).toThrow(
      /options\.schema must be a lowercase PostgreSQL name .* got "Bad-Name"/,
    );
  });

  it('says which server it could not reach, without the password', async () => {
    const deflow = DeFlow.register({ backend: 'postgres://someone:secret@127.0.0.1:1/nowhere', schema: 'x', startupTimeout: 0 });
    const error = (await deflow.ready().catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toMatch(/cannot open the PostgreSQL backend at postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nowhere \(schema x\)/);
    expect(error.message).not.toContain('secret');
  });

  it('rejects a URL it cannot parse with a ValidationError naming the option and showing the URL without its password', async () => {
    const backendOf = (url: string) => () => new PostgresBackend({ url, schema: 'x', poolSize: 1, recoverIntervalMs: 0 });
    expect(backendOf('postgres://postgres@127.0.0.1:abc/test')).toThrow(ValidationError);
    expect(backendOf('postgres://postgres@127.0.0.1:abc/test')).toThrow(
      /^DeFlow\.register options\.backend is not a PostgreSQL URL deflow can use: the port is not a number from 0 to 65535, in postgres:\/\/postgres@127\.0\.0\.1:abc\/test /,
    );
    expect(backendOf('postgres://me:secret@db:99999/app')).toThrow(/the port is not a number .* in postgres:\/\/me:\*\*\*@db:99999\/app /);
    expect(backendOf('postgres://me:se/cr?et@db/app')).toThrow(/must be percent-encoded, in postgres:\/\/me:\*\*\*@db\/app /);
    expect(backendOf('postgres://me:secret@/app')).toThrow(/the host is empty, in postgres:\/\/me:\*\*\*@\/app /);
    // Through register: ready() (or register() itself, which checks URLs too) fails the same way.
    const failure = await (async () => DeFlow.register({ backend: 'postgres://me:secret@127.0.0.1:abc/test', schema: 'x' }).ready())().catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ValidationError);
    expect((failure as Error).message).toMatch(/options\.backend/);
    expect((failure as Error).message).not.toContain('secret');
  });

  it('runs the watchdog once per interval whichever node asks', async () => {
    const schema = fresh();
    const [first, second] = [await open(schema, 10_000), await open(schema, 10_000)];
    await first.registerNode({ id: 'gone-1', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    await expirePostgresNode(schema, 'gone-1');
    expect((await first.recoverExpired(10)).nodesRemoved).toBe(1);
    await second.registerNode({ id: 'gone-2', host: 'test', pid: 2, handlers: [], leaseMs: 60_000 });
    await expirePostgresNode(schema, 'gone-2');
    // It ran a moment ago: the other node's call does nothing this interval.
    expect((await second.recoverExpired(10)).nodesRemoved).toBe(0);
    expect((await second.listNodes()).map((node) => node.id)).toEqual(['gone-2']);
  });

  it('removes expired workflows at once and their jobs in bounded batches', async () => {
    const schema = fresh();
    const backend = await open(schema);
    const workflow = oneStepWorkflow('old', 600);
    workflow.options.keepMs = 0;
    await backend.createWorkflow(workflow);
    await backend.registerNode({ id: 'worker', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    const { jobs } = await backend.claim({ nodeId: 'worker', workflowId: 'old', stepId: '1', limit: 600 });
    await backend.complete({
      outcomes: jobs.map((job) => ({ id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token, status: 'succeeded' as const, resultJson: '1', error: null })),
    });
    expect((await backend.getWorkflow('old'))?.status).toBe('succeeded');
    expect(await backend.sweep(1)).toBe(1); // one workflow, 250 of its jobs
    expect(await backend.getWorkflow('old')).toBeNull();
    expect(await backend.getSteps('old')).toEqual([]);
    expect(await count(schema, 'SELECT count(*)::int AS n FROM $schema.jobs')).toBe(350);
    expect(await backend.sweep(1)).toBe(0);
    expect(await backend.sweep(1)).toBe(0);
    expect(await count(schema, 'SELECT count(*)::int AS n FROM $schema.jobs')).toBe(0);
    expect(await count(schema, 'SELECT count(*)::int AS n FROM $schema.results')).toBe(0);
    expect(await count(schema, 'SELECT count(*)::int AS n FROM $schema.doomed_steps')).toBe(0);
  });

  it('delivers an event too big for a NOTIFY payload through the events table', async () => {
    const schema = fresh();
    const [listener, publisher] = [await open(schema), await open(schema)];
    const received: BackendEvent[] = [];
    listener.subscribe((event) => received.push(event));
    const big: NextTaskEvent = { type: 'nextTask', workflowId: 'w', stepId: '1', taskId: '1:1', dataJson: JSON.stringify('x'.repeat(20_000)), attempt: 1 };
    const small: NextTaskEvent = { ...big, taskId: '1:2', dataJson: '2' };
    await publisher.publish([big, small]);
    await eventually(() => (received.length >= 2 ? true : undefined));
    expect(received).toEqual([big, small]); // in order, the big one read back from the table
  });

  it('closes every connection it opened', async () => {
    const schema = fresh();
    const backend = await openPostgresBackend(schema);
    await backend.createWorkflow(oneStepWorkflow('w', 3));
    expect(await connectionsOf(schema)).toBeGreaterThan(0);
    await backend.close();
    await backend.close(); // idempotent
    await eventually(async () => ((await connectionsOf(schema)) === 0 ? true : undefined));
  });

  it('leaves no connection open after the nodes stop', async () => {
    const options = { backend: DATABASE_URL, schema: fresh() };
    const node = await startNode(options);
    DeFlow.register({ ...options, worker: false });
    await WorkFlow.create('tidy').addStep({ step: echo, tasks: [{ value: 1 }] }).run().done();
    expect(await connectionsOf(options.schema)).toBeGreaterThan(0);
    await DeFlow.unregister();
    await node.kill('SIGTERM');
    await eventually(async () => ((await connectionsOf(options.schema)) === 0 ? true : undefined));
  });

  it('pages through workflows newest first, ties on the creation instant included', async () => {
    const schema = fresh();
    const backend = await open(schema);
    for (let i = 0; i < 7; i++) await backend.createWorkflow(oneStepWorkflow(`w${i}`, 1));
    const seen: string[] = [];
    let before: { createdAt: number; id: string } | undefined;
    for (;;) {
      const page = await backend.listWorkflows({ limit: 3, ...(before === undefined ? {} : { before }) });
      if (page.length === 0) break;
      seen.push(...page.map((w) => w.id));
      const last = page.at(-1);
      if (last === undefined) break;
      before = { createdAt: last.createdAt, id: last.id };
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    const all = await backend.listWorkflows({ limit: 10 });
    expect(all.map((w) => w.id)).toEqual(seen);
    expect(all.every((w, i) => i === 0 || (all[i - 1]?.createdAt ?? 0) >= w.createdAt)).toBe(true);
  });

  it('counts the execution order of steps that have no task', async () => {
    const schema = fresh();
    const backend = await open(schema);
    const workflow = oneStepWorkflow('empty-first', 0);
    const [first] = workflow.steps;
    if (first === undefined) throw new Error('no step');
    workflow.steps.push({ ...first, id: '2', name: 'second', deps: [{ stepId: '1', on: 'success' }], tasksJson: [] });
    await backend.createWorkflow(workflow);
    const steps = await backend.getSteps('empty-first');
    expect(steps.map((step) => [step.id, step.status, step.runIndex])).toEqual([
      ['1', 'succeeded', 1],
      ['2', 'succeeded', 2],
    ]);
    expect((await backend.getWorkflow('empty-first'))?.status).toBe('succeeded');
  });
});
