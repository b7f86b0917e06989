/**
 * Triggers over real HTTP with real HMAC signatures: a GitHub webhook signed right starts its
 * workflow once (a redelivery is 200 with the same id), a bad or missing signature is 401 and
 * starts nothing, an event nobody maps is 422 with the reason, an unknown trigger 404; the
 * generic hmacWebhook with its own header, prefix and encoding. The GitHub path runs on all three
 * backends; the rest on SQLite.
 */
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow, defineWorkflow } from '../../src/index.js';
import { githubWebhook, hmacWebhook, skip } from '../../src/server/index.js';
import type { DeflowApp, GithubWebhookInput } from '../../src/server/index.js';
import type { BackendUnderTest } from '../helpers/backends.js';
import { sqliteUnderTest } from '../helpers/backends.js';
import { postgresUnderTest } from '../helpers/postgres.js';
import { redisUnderTest } from '../helpers/redis.js';
import { AUTH, chain, serve } from './helpers.js';

const SECRET = 'webhook-secret-for-tests';

defineWorkflow('trigger-deploy', (input: GithubWebhookInput) => {
  expect(input.event).toBe('push');
  return chain('trigger-deploy', 1);
});
defineWorkflow('trigger-plain', (input: { n: number }) => chain('trigger-plain', input.n));

const sign = (body: string, secret = SECRET): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

async function deliver(base: string, path: string, body: string, headers: Record<string, string>) {
  const response = await fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function countWorkflows(name: string): Promise<number> {
  return (await app!.inject({ url: `/api/workflows?name=${name}`, headers: AUTH })).json<{ items: unknown[] }>().items.length;
}

let app: DeflowApp | undefined;
let current: BackendUnderTest | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  await DeFlow.unregister();
  await current?.cleanup();
  current = undefined;
});

async function start(backend: BackendUnderTest): Promise<string> {
  current = backend;
  await DeFlow.register(await backend.fresh()).ready();
  const server = await serve();
  app = server;
  server.trigger('github', [githubWebhook({ secret: SECRET, on: { push: 'trigger-deploy' } })]);
  return server.listen({ host: '127.0.0.1', port: 0 });
}

for (const make of [sqliteUnderTest, redisUnderTest, postgresUnderTest]) {
  describe(`triggers: GitHub webhook (${make().name})`, () => {
    it('starts on a good signature, once per delivery; refuses bad and missing signatures', async () => {
      const base = await start(make());
      const body = JSON.stringify({ ref: 'refs/heads/main', after: 'abc123' });
      const headers = { 'x-github-event': 'push', 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' };

      expect(await deliver(base, '/triggers/github', body, { ...headers, 'x-hub-signature-256': sign(body, 'another-secret') })).toMatchObject({ status: 401 });
      expect(await deliver(base, '/triggers/github', body, headers)).toMatchObject({ status: 401, body: { message: expect.stringMatching(/missing signature/) } });
      // Signed over other bytes (the same JSON re-spaced): the raw body is what is checked.
      expect((await deliver(base, '/triggers/github', body, { ...headers, 'x-hub-signature-256': sign(JSON.stringify(JSON.parse(body), null, 1)) })).status).toBe(401);
      expect((await deliver(base, '/triggers/github', body, { ...headers, 'x-hub-signature-256': 'sha256=abc' })).status).toBe(401);
      expect(await countWorkflows('trigger-deploy')).toBe(0);

      const first = await deliver(base, '/triggers/github', body, { ...headers, 'x-hub-signature-256': sign(body) });
      expect(first).toEqual({ status: 201, body: { id: 'github-72d3162e-cc78-11e3-81ab-4c9367dc0958', created: true, workflow: 'trigger-deploy' } });
      const again = await deliver(base, '/triggers/github', body, { ...headers, 'x-hub-signature-256': sign(body) });
      expect(again).toEqual({ status: 200, body: { ...first.body, created: false } });
      const started = (await WorkFlow.getById(first.body.id as string))!;
      await started.done();
      expect(await countWorkflows('trigger-deploy')).toBe(1);
    });
  });
}

describe('triggers (sqlite)', () => {
  it('answers 422 with the reason when no parser takes the request, 404 for an unknown trigger; needs no bearer token', async () => {
    const base = await start(sqliteUnderTest());
    const body = JSON.stringify({ action: 'opened' });
    const issues = await deliver(base, '/triggers/github', body, { 'x-github-event': 'issues', 'x-github-delivery': 'd-1', 'x-hub-signature-256': sign(body) });
    expect(issues.status).toBe(422);
    expect(issues.body.message).toMatch(/event "issues" starts nothing \(on: push\)/);
    expect((await deliver(base, '/triggers/nope', body, {})).status).toBe(404);
    // A signature refused is 401 even when the event would be skipped: nothing is said about the mapping.
    expect((await deliver(base, '/triggers/github', body, { 'x-github-event': 'issues', 'x-hub-signature-256': sign(body, 'wrong') })).status).toBe(401);
  });

  it('runs the chain in order; hmacWebhook with its own header, prefix, encoding and id header', async () => {
    const base = await start(sqliteUnderTest());
    app!.trigger('shop', [
      (request) => (request.headers['x-kind'] === 'ignored' ? skip('first: kind ignored') : null),
      hmacWebhook({ secret: ['old-secret', 'new-secret'], header: 'X-Shop-Signature', algorithm: 'sha512', encoding: 'base64', prefix: 'v1,', workflow: 'trigger-plain', idHeader: 'X-Shop-Id' }),
    ]);
    const body = JSON.stringify({ n: 1 });
    const signature = `v1,${createHmac('sha512', 'new-secret').update(body).digest('base64')}`;
    const started = await deliver(base, '/triggers/shop', body, { 'x-shop-signature': signature, 'x-shop-id': 'order-7' });
    expect(started).toEqual({ status: 201, body: { id: 'order-7', created: true, workflow: 'trigger-plain' } });
    await (await WorkFlow.getById('order-7'))!.done();
    expect((await deliver(base, '/triggers/shop', body, { 'x-shop-signature': signature.replace('v1,', 'v2,'), 'x-shop-id': 'order-8' })).status).toBe(401);
    // A parser that throws a signature error stops the chain: the catch-all after it is never asked.
    app!.trigger('strict', [hmacWebhook({ secret: 's', header: 'x-sig', workflow: 'trigger-plain' }), () => ({ workflow: 'trigger-plain', input: { n: 1 }, id: 'never' })]);
    expect((await deliver(base, '/triggers/strict', body, {})).status).toBe(401);
    expect(await WorkFlow.getById('never')).toBeNull();
    // A body over the limit is refused before any parser.
    expect((await deliver(base, '/triggers/shop', 'x'.repeat(70 * 1024), { 'content-type': 'text/plain' })).status).toBe(413);
    // Any content type reaches the parsers as bytes.
    app!.trigger('text', [(request) => ({ workflow: 'trigger-plain', input: { n: Number(request.rawBody.toString('utf8')) }, id: `text-${request.rawBody.toString('utf8')}` })]);
    expect(await deliver(base, '/triggers/text', '2', { 'content-type': 'text/plain' })).toMatchObject({ status: 201, body: { id: 'text-2' } });
    await (await WorkFlow.getById('text-2'))!.done();
  });
});
