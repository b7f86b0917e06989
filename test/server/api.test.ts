/**
 * The HTTP API on SQLite, through the whole request pipeline (app.inject): tokens, validation
 * naming the field, the body limit, paging with cursors, a workflow's steps, progress and
 * errors, nodes, the OpenAPI document and the metrics exposition.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import DeFlow, { WorkFlow } from '../../src/index.js';
import { defineRoute } from '../../src/server/index.js';
import { AUTH, OTHER_TOKEN, TOKEN, chain, cleanup, parseExposition, registerSqlite, serve, total, work } from './helpers.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await cleanup(app);
  app = undefined;
});

/** A route with a body, as later endpoints (cancel, signals) will have: the pipeline is what is tested. */
const echoBody = defineRoute<Record<string, string>, Record<string, unknown>, { reason: string; count?: number }>({
  method: 'POST',
  url: '/api/echo',
  summary: 'test only',
  schema: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['reason'],
      properties: { reason: { type: 'string', maxLength: 10_000 }, count: { type: 'integer', minimum: 0 } },
    },
  },
  handler: ({ body }) => Promise.resolve({ got: body }),
});

async function get(path: string, headers: Record<string, string> = AUTH) {
  if (app === undefined) throw new Error('no server');
  const response = await app.inject({ method: 'GET', url: path, headers });
  return { status: response.statusCode, body: response.json(), headers: response.headers };
}

describe('server API (sqlite)', () => {
  it('wants a token on /api and /metrics, takes any of several, and says nothing of them', async () => {
    await registerSqlite();
    app = await serve();
    const missing = await get('/api/workflows', {});
    expect(missing.status).toBe(401);
    expect(missing.body.message).toMatch(/Authorization: Bearer/);
    const bad = await get('/api/workflows', { authorization: `Bearer ${TOKEN}x` });
    expect(bad.status).toBe(401);
    expect(JSON.stringify(bad.body)).not.toContain(TOKEN);
    expect((await get('/api/workflows', { authorization: 'Basic abc' })).status).toBe(401);
    expect((await get('/metrics', {})).status).toBe(401);
    expect((await get('/api/stream', {})).status).toBe(401);
    expect((await get('/api/workflows', { authorization: `Bearer ${OTHER_TOKEN}` })).status).toBe(200);
    // Probes, the dashboard's files and the document need none.
    expect((await get('/healthz', {})).body).toMatchObject({ ok: true, backend: 'sqlite' });
    expect((await app.inject({ url: '/' })).statusCode).toBe(200);
    expect((await get('/api/openapi.json', {})).status).toBe(200);
  });

  it('refuses short tokens at start, and a tokenless listen beyond loopback', async () => {
    await registerSqlite();
    await expect(serve({ tokens: ['short'] })).rejects.toThrow(/token #1 must be at least 16 characters/);
    const { checkListenAddress } = await import('../../src/server/index.js');
    expect(() => checkListenAddress('0.0.0.0', [])).toThrow(/refusing to listen on 0.0.0.0 without a token/);
    expect(() => checkListenAddress('::', [])).toThrow(/without a token/);
    expect(() => checkListenAddress('127.0.0.1', [])).not.toThrow();
    expect(() => checkListenAddress('0.0.0.0', [TOKEN])).not.toThrow();
    // Without tokens, a client on this machine needs none; one the server cannot place is refused.
    app = await serve({ tokens: [] });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    expect((await fetch(`${base}/api/workflows`)).status).toBe(200);
    expect((await get('/api/workflows', {})).status).toBe(403); // inject's socket has no local address
  });

  it('refuses a timing option longer than a timer can wait, and sizes that are not positive integers', async () => {
    await registerSqlite();
    const limit = 'must be at most 2147483647 ms \\(~24.8 days, the longest a timer can wait\\), got 3000000000';
    await expect(serve({ stream: { heartbeatMs: 3e9 } })).rejects.toThrow(new RegExp(`deflow server options.stream.heartbeatMs ${limit}`));
    await expect(serve({ stream: { pollMs: 3e9 } })).rejects.toThrow(new RegExp(`stream.pollMs ${limit}`));
    await expect(serve({ stream: { flushMs: 0 } })).rejects.toThrow(/stream.flushMs must be a positive integer/);
    await expect(serve({ counts: { maxAgeMs: 3e9 } })).rejects.toThrow(new RegExp(`counts.maxAgeMs ${limit}`));
    await expect(serve({ bodyLimit: -1 })).rejects.toThrow(/bodyLimit must be a positive integer/);
    app = await serve({ stream: { heartbeatMs: 2 ** 31 - 1 }, counts: { maxAgeMs: 0 } });
    expect((await get('/api/workflows')).status).toBe(200);
  });

  it('answers bad input with 400 naming the field, and a large body with 413', async () => {
    await registerSqlite();
    app = await serve({ routes: [echoBody], bodyLimit: 1024 });
    const limit = await get('/api/workflows?limit=0');
    expect(limit).toMatchObject({ status: 400, body: { field: 'limit', in: 'querystring' } });
    expect((await get('/api/workflows?limit=abc')).body.field).toBe('limit');
    expect((await get('/api/workflows?status=done')).body).toMatchObject({ field: 'status' });
    expect((await get('/api/workflows?colour=red')).body).toMatchObject({ field: 'colour', message: expect.stringMatching(/unknown field/) });
    expect((await get('/api/workflows?cursor=nonsense')).body).toMatchObject({ field: 'cursor' });
    expect((await get('/api/workflows/x/steps/1/tasks?status=nope')).body).toMatchObject({ field: 'status' });

    const post = (payload: string) => app!.inject({ method: 'POST', url: '/api/echo', headers: { ...AUTH, 'content-type': 'application/json' }, payload });
    expect((await post('{"reason":"ok","count":2}')).json()).toEqual({ got: { reason: 'ok', count: 2 } });
    const unknown = await post('{"reason":"ok","force":true}');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ field: 'force', in: 'body' });
    const wrongType = await post('{"reason":"ok","count":"2"}');
    expect(wrongType.json()).toMatchObject({ field: 'count', in: 'body' });
    expect((await post('{"count":1}')).json()).toMatchObject({ field: 'reason', message: expect.stringMatching(/required/) });
    const broken = await post('{"reason":');
    expect(broken.statusCode).toBe(400);
    const big = await post(JSON.stringify({ reason: 'x'.repeat(2000) }));
    expect(big.statusCode).toBe(413);
    expect(big.json().message).toMatch(/too large/);
    // The token is checked before the body is read.
    expect((await app.inject({ method: 'POST', url: '/api/echo', payload: { reason: 'x' } })).statusCode).toBe(401);
  });

  it('pages workflows newest first with filters, and shows steps, progress, errors and tasks', async () => {
    await registerSqlite();
    app = await serve();
    const runs = [chain('pay', 3), chain('pay', 3), chain('ship', 3), chain('pay', 5, { fail: [2, 4] })];
    for (const run of runs) {
      run.run();
      await run.done().catch(() => undefined);
    }
    const first = await get('/api/workflows?limit=2');
    expect(first.body.items.map((w: { id: string }) => w.id)).toEqual([runs[3]!.id, runs[2]!.id]);
    const second = await get(`/api/workflows?limit=2&cursor=${first.body.nextCursor as string}`);
    expect(second.body.items.map((w: { id: string }) => w.id)).toEqual([runs[1]!.id, runs[0]!.id]);
    expect(second.body.nextCursor).toBeNull();
    expect((await get('/api/workflows?name=ship')).body.items.map((w: { id: string }) => w.id)).toEqual([runs[2]!.id]);
    const failed = await get('/api/workflows?status=failed');
    expect(failed.body.items).toMatchObject([{ id: runs[3]!.id, status: 'failed', name: 'pay' }]);
    expect((await get('/api/counts')).body).toMatchObject({ counts: { succeeded: 3, failed: 1, running: 0 }, counted: 4, complete: true });
    expect((await get('/api/counts?name=pay')).body).toMatchObject({ counts: { succeeded: 2, failed: 1, running: 0 }, counted: 3 });

    const detail = await get(`/api/workflows/${runs[3]!.id}`);
    expect(detail.body.workflow).toMatchObject({ id: runs[3]!.id, status: 'failed' });
    expect(detail.body.steps).toMatchObject([
      { id: '1', name: 'a', status: 'failed', counts: { total: 5, done: 3, failed: 2 }, deps: [] },
      { id: '2', name: 'b', status: 'skipped', deps: [{ stepId: '1', on: 'success' }] },
    ]);
    expect(detail.body.progress).toEqual({ steps: { total: 2, finished: 2 }, tasks: { total: 6, done: 3, failed: 2 } });
    expect(detail.body.errors.length).toBeGreaterThan(0);
    expect((await get('/api/workflows/nope')).status).toBe(404);

    const tasks = `/api/workflows/${runs[3]!.id}/steps/1/tasks`;
    const page1 = await get(`${tasks}?limit=2`);
    expect(page1.body.items.map((t: { seq: number }) => t.seq)).toEqual([1, 2]);
    const page2 = await get(`${tasks}?limit=2&cursor=${page1.body.nextCursor as string}`);
    expect(page2.body.items.map((t: { seq: number }) => t.seq)).toEqual([3, 4]);
    const page3 = await get(`${tasks}?limit=2&cursor=${page2.body.nextCursor as string}`);
    expect(page3.body).toMatchObject({ items: [{ seq: 5 }], nextCursor: null });
    const failedTasks = await get(`${tasks}?status=failed`);
    expect(failedTasks.body.items).toMatchObject([
      { seq: 2, status: 'failed', error: { message: 'task 2 failed on purpose' }, data: '{"n":2,"fail":true}', result: null },
      { seq: 4, status: 'failed', error: { message: 'task 4 failed on purpose' } },
    ]);
    expect(failedTasks.body.items[0].error.stack).toBeUndefined();
    expect((await get(`${tasks.replace('/steps/1/', '/steps/9/')}`)).status).toBe(404);

    const nodes = await get('/api/nodes');
    expect(nodes.body.items).toMatchObject([{ pid: process.pid, live: true, queues: ['default'] }]);
    expect((await get('/healthz', {})).body.liveNodes).toBe(1);
  });

  it('describes its routes in an OpenAPI document', async () => {
    await registerSqlite();
    app = await serve();
    const { body } = await get('/api/openapi.json', {});
    expect(body.openapi).toBe('3.1.0');
    expect(Object.keys(body.paths).sort()).toEqual(
      [
        '/api/counts',
        '/api/definitions',
        '/api/events/{name}',
        '/api/nodes',
        '/api/stream',
        '/api/workflows',
        '/api/workflows/{id}',
        '/api/workflows/{id}/cancel',
        '/api/workflows/{id}/pause',
        '/api/workflows/{id}/resume',
        '/api/workflows/{id}/retry',
        '/api/workflows/{id}/signals/{name}',
        '/api/workflows/{id}/steps/{step}/tasks',
        '/healthz',
        '/metrics',
        '/triggers/{name}',
      ].sort(),
    );
    expect(body.paths['/api/workflows'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['name', 'key', 'status', 'cursor', 'limit']);
    expect(body.paths['/healthz'].get.security).toEqual([]);
  });

  it("gives failed tasks' stacks only when asked (stacks: true)", async () => {
    await registerSqlite();
    app = await serve({ stacks: true });
    const run = chain('stacked', 2, { fail: [1] }).run();
    await run.done().catch(() => undefined);
    const [task] = (await get(`/api/workflows/${run.id}/steps/1/tasks?status=failed`)).body.items as { error: { message: string; stack?: string } }[];
    expect(task!.error.message).toBe('task 1 failed on purpose');
    expect(task!.error.stack).toMatch(/^Error: task 1 failed on purpose\n\s+at /);
    await app.close();
    app = await serve();
    const [plain] = (await get(`/api/workflows/${run.id}/steps/1/tasks?status=failed`)).body.items as { error: { stack?: string } }[];
    expect(plain!.error.stack).toBeUndefined();
  });

  it('exposes Prometheus metrics that parse and count what ran', async () => {
    await registerSqlite();
    app = await serve();
    const ok = chain('metered', 4).run();
    await ok.done();
    const bad = chain('metered', 2, { fail: [1] }).run();
    await bad.done().catch(() => undefined);
    const response = await app.inject({ url: '/metrics', headers: AUTH });
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    const samples = parseExposition(response.body);
    expect(total(samples, 'deflow_workflows', 'status="succeeded"')).toBe(1);
    expect(total(samples, 'deflow_workflows', 'status="failed"')).toBe(1);
    // ok: 4 + 1 tasks, bad: 2 tasks in a (b skipped).
    expect(total(samples, 'deflow_tasks_started_total', 'workflow="metered"')).toBe(7);
    // Every attempt carries its step's queue (the default one here).
    expect(total(samples, 'deflow_tasks_started_total', 'workflow="metered"', 'queue="default"')).toBe(7);
    expect(total(samples, 'deflow_tasks_succeeded_total', 'workflow="metered"')).toBe(6);
    expect(total(samples, 'deflow_tasks_failed_total', 'workflow="metered"', 'final="true"')).toBe(1);
    expect(total(samples, 'deflow_task_duration_seconds_count', 'workflow="metered"')).toBe(7);
    expect(total(samples, 'deflow_claim_latency_seconds_count')).toBeGreaterThan(0);
    expect(total(samples, 'deflow_live_nodes')).toBe(1);
    expect(samples.get('deflow_lease_recoveries_total')).toBe(0);

    // Events sent from this process count the workflows they reached.
    const waiting = chain('metered', 1, { ms: 10_000 }).run();
    await waiting.started();
    expect(await DeFlow.signal(waiting.id, 'poke', { n: 1 })).toBe(true);
    await waiting.cancel();
    const after = parseExposition((await app.inject({ url: '/metrics', headers: AUTH })).body);
    expect(total(after, 'deflow_events_delivered_total', 'event="poke"')).toBe(1);
  });

  it('counts ready jobs by queue, for a queue no node serves', async () => {
    await registerSqlite();
    app = await serve();
    const waiting = WorkFlow.create('billed').addStep({ step: work, tasks: [{ n: 1 }, { n: 2 }, { n: 3 }], options: { queue: 'billing' } }).run();
    await waiting.started();
    const samples = parseExposition((await app.inject({ url: '/metrics', headers: AUTH })).body);
    expect(total(samples, 'deflow_queue_jobs', 'queue="billing"', 'state="ready"')).toBe(3);
    expect(total(samples, 'deflow_queue_jobs', 'queue="billing"', 'state="leased"')).toBe(0);
  });
});
