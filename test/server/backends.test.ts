/**
 * The read API and the event stream against the networked backends (Redis, PostgreSQL): the
 * same answers as on SQLite (test/server/api.test.ts covers the rest there).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import DeFlow, { WorkFlow, WorkflowCancelledError, defineWorkflow } from '../../src/index.js';
import type { BackendUnderTest } from '../helpers/backends.js';
import { postgresUnderTest } from '../helpers/postgres.js';
import { redisUnderTest } from '../helpers/redis.js';
import { AUTH, chain, parseExposition, readEvents, serve, total } from './helpers.js';

defineWorkflow('server-backends-chain', (input: { tasks: number; ms?: number }) => chain('server-backends-chain', input.tasks, input));

for (const backend of [redisUnderTest(), postgresUnderTest()] as BackendUnderTest[]) {
  describe(`server read API (${backend.name})`, () => {
    let app: FastifyInstance | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
      await DeFlow.unregister();
      await backend.cleanup();
    });

    it('lists, pages and details workflows, tasks and nodes, and streams progress', async () => {
      await DeFlow.register(await backend.fresh()).ready();
      app = await serve({ stream: { pollMs: 100, flushMs: 20 } });
      const get = async (url: string) => (await app!.inject({ url, headers: AUTH })).json();
      const done = [chain('alpha', 2), chain('beta', 4, { fail: [3] })];
      for (const run of done) {
        run.run();
        await run.done().catch(() => undefined);
      }
      const first = await get('/api/workflows?limit=1');
      expect(first.items.map((w: { id: string }) => w.id)).toEqual([done[1]!.id]);
      const second = await get(`/api/workflows?limit=1&cursor=${first.nextCursor as string}`);
      expect(second).toMatchObject({ items: [{ id: done[0]!.id, status: 'succeeded', name: 'alpha' }] });
      expect((await get('/api/workflows?status=failed')).items.map((w: { id: string }) => w.id)).toEqual([done[1]!.id]);
      expect((await get('/api/workflows?name=alpha')).items).toHaveLength(1);
      expect(await get('/api/counts')).toMatchObject({ counts: { succeeded: 1, failed: 1 }, complete: true });

      const detail = await get(`/api/workflows/${done[1]!.id}`);
      expect(detail.steps).toMatchObject([
        { id: '1', status: 'failed', counts: { total: 4, done: 3, failed: 1 } },
        { id: '2', status: 'skipped' },
      ]);
      const tasks = await get(`/api/workflows/${done[1]!.id}/steps/1/tasks?limit=3`);
      expect(tasks.items.map((t: { seq: number }) => t.seq)).toEqual([1, 2, 3]);
      expect((await get(`/api/workflows/${done[1]!.id}/steps/1/tasks?cursor=${tasks.nextCursor as string}`)).items).toMatchObject([{ seq: 4 }]);
      expect((await get(`/api/workflows/${done[1]!.id}/steps/1/tasks?status=failed`)).items).toMatchObject([{ seq: 3, error: { message: 'task 3 failed on purpose' } }]);
      expect((await get('/api/nodes')).items).toMatchObject([{ pid: process.pid, live: true }]);
      expect(await get('/healthz')).toMatchObject({ ok: true, backend: backend.name, liveNodes: 1 });
      expect(total(parseExposition((await app.inject({ url: '/metrics', headers: AUTH })).body), 'deflow_workflows', 'status="failed"')).toBe(1);

      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      const running = chain('gamma', 3, { ms: 300, concurrency: 1 });
      const counts = new Set<number>();
      const followed = readEvents(`${base}/api/stream?workflow=${running.id}`, AUTH, ({ event, data }) => {
        if (event === 'steps') counts.add((data as { steps: { counts: { done: number } }[] }).steps[0]!.counts.done);
        return event === 'workflow' && (data as { status: string }).status === 'succeeded';
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      running.run();
      await expect(followed).resolves.toBe('matched');
      expect(counts.has(3)).toBe(true);
    }, 90_000);

    it('starts a loaded definition (idempotent by id), pauses, resumes, cancels and retries it through the write API', async () => {
      await DeFlow.register(await backend.fresh()).ready();
      app = await serve();
      const post = async (url: string, payload: Record<string, unknown>) => {
        const response = await app!.inject({ method: 'POST', url, headers: AUTH, payload });
        return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
      };
      const started = await post('/api/workflows', { workflow: 'server-backends-chain', input: { tasks: 2, ms: 5_000 }, id: `run-${backend.name}` });
      expect(started).toEqual({ status: 201, body: { id: `run-${backend.name}`, created: true } });
      expect((await post('/api/workflows', { workflow: 'server-backends-chain', input: { tasks: 2 }, id: `run-${backend.name}` })).status).toBe(200);
      const handle = (await WorkFlow.getById(`run-${backend.name}`))!;
      const status = async () => (await app!.inject({ url: `/api/workflows/run-${backend.name}`, headers: AUTH })).json<{ workflow: { status: string } }>().workflow.status;
      // Pause and resume, each saying whether it changed anything.
      expect(await post(`/api/workflows/run-${backend.name}/pause`, {})).toEqual({ status: 200, body: { changed: true } });
      expect(await status()).toBe('paused');
      expect(await post(`/api/workflows/run-${backend.name}/pause`, {})).toEqual({ status: 200, body: { changed: false } });
      expect(await post(`/api/workflows/run-${backend.name}/resume`, {})).toEqual({ status: 200, body: { changed: true } });
      expect(await status()).toBe('running');
      // A retry of a running workflow is refused with 409.
      expect((await post(`/api/workflows/run-${backend.name}/retry`, {})).status).toBe(409);
      expect(await post(`/api/workflows/run-${backend.name}/cancel`, { reason: 'enough' })).toEqual({ status: 200, body: { changed: true } });
      await expect(handle.done()).rejects.toBeInstanceOf(WorkflowCancelledError);
      expect(await status()).toBe('cancelled');
      // A retry of the cancelled run goes on where the cancel stopped, and finishes.
      expect(await post(`/api/workflows/run-${backend.name}/retry`, {})).toEqual({ status: 200, body: { retries: 1 } });
      await expect((await WorkFlow.getById(`run-${backend.name}`))!.done()).resolves.toMatchObject({ status: 'succeeded' });
      for (const action of ['cancel', 'pause', 'resume', 'retry']) expect((await post(`/api/workflows/missing/${action}`, {})).status).toBe(404);
    }, 60_000);
  });
}
