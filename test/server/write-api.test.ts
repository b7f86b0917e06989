/**
 * The write endpoints on SQLite with real workflows: start a loaded definition (idempotent by
 * id), cancel, pause, resume, retry, signals and global events, each behind the token, with
 * validation naming the field, 404 for unknown ids and definitions, 409 for a refused retry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { WorkFlow, WorkflowCancelledError, defineWorkflow } from '../../src/index.js';
import { AUTH, chain, cleanup, registerSqlite, serve } from './helpers.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await cleanup(app);
  app = undefined;
});

defineWorkflow('server-write-chain', (input: { tasks: number; ms?: number; fail?: number[] }) => chain('server-write-chain', input.tasks, input), { description: 'a -> b' });

async function post(path: string, body?: unknown, headers: Record<string, string> = AUTH) {
  if (app === undefined) throw new Error('no server');
  const response = await app.inject({ method: 'POST', url: path, headers, ...(body === undefined ? {} : { payload: body as Record<string, unknown> }) });
  return { status: response.statusCode, body: response.json() };
}

async function status(id: string): Promise<string> {
  const response = await app!.inject({ url: `/api/workflows/${id}`, headers: AUTH });
  return response.json<{ workflow: { status: string } }>().workflow.status;
}

describe('server write API (sqlite)', () => {
  it('wants the token on every write endpoint', async () => {
    await registerSqlite();
    app = await serve();
    for (const path of ['/api/workflows', '/api/workflows/x/cancel', '/api/workflows/x/pause', '/api/workflows/x/resume', '/api/workflows/x/retry', '/api/workflows/x/signals/go', '/api/events/go']) {
      expect((await post(path, {}, {})).status, path).toBe(401);
    }
    expect((await app.inject({ url: '/api/definitions' })).statusCode).toBe(401);
    const document = (await app.inject({ url: '/api/openapi.json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
    expect(Object.keys(document.paths['/api/workflows'] ?? {})).toContain('post');
    expect(document.paths['/api/workflows/{id}/retry']).toBeDefined();
  });

  it('lists the definitions and starts one: 201 when created, 200 for an existing id, 404 naming the known ones', async () => {
    await registerSqlite();
    app = await serve();
    const listed = await app.inject({ url: '/api/definitions', headers: AUTH });
    expect(listed.json().items).toContainEqual({ name: 'server-write-chain', description: 'a -> b' });
    const first = await post('/api/workflows', { workflow: 'server-write-chain', input: { tasks: 2 }, id: 'order-1', key: 'k-1' });
    expect(first).toEqual({ status: 201, body: { id: 'order-1', created: true } });
    const again = await post('/api/workflows', { workflow: 'server-write-chain', input: { tasks: 2 }, id: 'order-1', key: 'k-1' });
    expect(again).toEqual({ status: 200, body: { id: 'order-1', created: false } });
    await (await WorkFlow.getById('order-1'))!.done();
    const fresh = await post('/api/workflows', { workflow: 'server-write-chain', input: { tasks: 1 } });
    expect(fresh.status).toBe(201);
    expect(typeof fresh.body.id).toBe('string');
    const unknown = await post('/api/workflows', { workflow: 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/"nope".*known definitions: .*"server-write-chain"/);
  });

  it('refuses bad start bodies naming the field', async () => {
    await registerSqlite();
    app = await serve();
    expect((await post('/api/workflows', {})).body).toMatchObject({ statusCode: 400, field: 'workflow', in: 'body' });
    expect((await post('/api/workflows', { workflow: 'server-write-chain', extra: 1 })).body).toMatchObject({ statusCode: 400, field: 'extra', message: 'extra: unknown field (in the body)' });
    expect((await post('/api/workflows', { workflow: 'server-write-chain', id: 7 })).body).toMatchObject({ statusCode: 400, field: 'id' });
    expect((await post('/api/workflows/x/pause', { reason: 'why' })).body).toMatchObject({ statusCode: 400, field: 'reason' });
    expect((await post('/api/workflows/x/retry', { failedOnly: 'yes' })).body).toMatchObject({ statusCode: 400, field: 'failedOnly' });
    expect((await post('/api/workflows/x/signals/go', { data: 1, other: 2 })).body).toMatchObject({ statusCode: 400, field: 'other' });
  });

  it('cancels, pauses and resumes by id; 404 for an unknown id', async () => {
    await registerSqlite();
    app = await serve();
    const { body } = await post('/api/workflows', { workflow: 'server-write-chain', input: { tasks: 2, ms: 5_000 } });
    const id = body.id as string;
    const handle = (await WorkFlow.getById(id))!;
    expect(await post(`/api/workflows/${id}/pause`, {})).toEqual({ status: 200, body: { changed: true } });
    expect(await status(id)).toBe('paused');
    // A paused workflow is counted and can be listed by its status.
    const paused = await app.inject({ url: '/api/workflows?status=paused', headers: AUTH });
    expect(paused.json<{ items: { id: string }[] }>().items.map((w) => w.id)).toEqual([id]);
    expect((await app.inject({ url: '/api/counts', headers: AUTH })).json()).toMatchObject({ counts: { paused: 1 } });
    expect(await post(`/api/workflows/${id}/pause`, {})).toEqual({ status: 200, body: { changed: false } });
    expect(await post(`/api/workflows/${id}/resume`, {})).toEqual({ status: 200, body: { changed: true } });
    expect(await post(`/api/workflows/${id}/resume`, {})).toEqual({ status: 200, body: { changed: false } });
    expect(await post(`/api/workflows/${id}/cancel`, { reason: 'from the API' })).toEqual({ status: 200, body: { changed: true } });
    await expect(handle.done()).rejects.toBeInstanceOf(WorkflowCancelledError);
    expect(await status(id)).toBe('cancelled');
    expect(await post(`/api/workflows/${id}/cancel`, {})).toEqual({ status: 200, body: { changed: false } });
    for (const action of ['cancel', 'pause', 'resume', 'retry']) {
      const missing = await post(`/api/workflows/missing/${action}`, {});
      expect(missing.status, action).toBe(404);
      expect(missing.body.message).toContain('missing');
    }
  });

  it('retries a failed workflow, refuses a running one with 409 and bad options with 400', async () => {
    await registerSqlite();
    app = await serve();
    const failed = await post('/api/workflows', { workflow: 'server-write-chain', input: { tasks: 2, fail: [2] } });
    const failedId = failed.body.id as string;
    await expect((await WorkFlow.getById(failedId))!.done()).rejects.toThrow();
    expect((await post(`/api/workflows/${failedId}/retry`, { step: 'a' })).status).toBe(400);
    expect(await post(`/api/workflows/${failedId}/retry`, { step: 'a', failedOnly: true })).toEqual({ status: 200, body: { retries: 1 } });
    const running = await post('/api/workflows', { workflow: 'server-write-chain', input: { tasks: 1, ms: 5_000 } });
    const refused = await post(`/api/workflows/${running.body.id as string}/retry`, {});
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ statusCode: 409, error: 'Conflict' });
    expect(refused.body.message).toMatch(/retry/i);
    await post(`/api/workflows/${running.body.id as string}/cancel`, {});
  });

  it('delivers signals to one workflow and global events to all unfinished ones', async () => {
    await registerSqlite();
    app = await serve();
    const { body } = await post('/api/workflows', { workflow: 'server-write-chain', input: { tasks: 1, ms: 5_000 } });
    const id = body.id as string;
    expect(await post(`/api/workflows/${id}/signals/approved`, { data: { by: 'ann' }, id: 'sig-1' })).toEqual({ status: 200, body: { delivered: true } });
    expect(await post(`/api/workflows/${id}/signals/approved`, { data: { by: 'ann' }, id: 'sig-1' })).toEqual({ status: 200, body: { delivered: false } });
    expect((await post('/api/workflows/missing/signals/approved', {})).status).toBe(404);
    const event = await post('/api/events/holiday', { data: 1 });
    expect(event.status).toBe(200);
    expect(event.body.delivered).toBeGreaterThanOrEqual(1);
    await post(`/api/workflows/${id}/cancel`, {});
  });
});
