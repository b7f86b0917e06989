/**
 * The event stream on a listening server (SQLite): a follower sees a running workflow's task
 * counts move and its end; an unfiltered stream sees workflows change; closing the server ends
 * open streams cleanly.
 */
import { afterEach, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AUTH, chain, cleanup, readEvents, registerSqlite, serve } from './helpers.js';
import type { SseEvent } from './helpers.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await cleanup(app);
  app = undefined;
});

interface StepsData {
  workflowId: string;
  steps: { id: string; counts: { done: number; total: number } }[];
}

it('streams the progress of a running workflow to its follower, and every workflow change to the others', async () => {
  await registerSqlite();
  app = await serve({ stream: { pollMs: 100, flushMs: 20 } });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const workflow = chain('streamed', 4, { ms: 400, concurrency: 1 });

  const seenDone = new Set<number>();
  const followed = readEvents(`${base}/api/stream?workflow=${workflow.id}`, AUTH, ({ event, data }: SseEvent) => {
    if (event === 'steps') seenDone.add((data as StepsData).steps.find((step) => step.id === '1')?.counts.done ?? -1);
    return event === 'workflow' && (data as { status: string }).status === 'succeeded';
  });
  const everything = readEvents(`${base}/api/stream`, AUTH, ({ event, data }) => event === 'workflow' && (data as { id: string; status: string }).id === workflow.id && (data as { status: string }).status === 'succeeded');
  // Both streams are open (their hello went out) before the workflow starts.
  await new Promise((resolve) => setTimeout(resolve, 300));
  workflow.run();
  await expect(followed).resolves.toBe('matched');
  await expect(everything).resolves.toBe('matched');
  // Counts were seen moving, not only the end state.
  expect([...seenDone].filter((done) => done > 0 && done < 4).length).toBeGreaterThan(0);
  expect(seenDone.has(4)).toBe(true);
}, 60_000);

it('sends heartbeats, and ends open streams when the server closes', async () => {
  await registerSqlite();
  app = await serve({ stream: { heartbeatMs: 50 } });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const response = await fetch(`${base}/api/stream`, { headers: AUTH });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes(': heartbeat')) text += decoder.decode((await reader.read()).value);
  expect(text).toContain('event: hello');
  const closing = app.close();
  app = undefined;
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
  }
  await closing;
}, 30_000);
