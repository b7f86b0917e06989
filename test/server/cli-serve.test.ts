/**
 * `deflow serve` as a process (the built CLI): it refuses a tokenless listen beyond loopback
 * before connecting, serves with a token it never prints, and leaves cleanly on SIGTERM.
 */
import { execFile, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';
import { freePort } from '../helpers/free-port.js';
import { AUTH, TOKEN, readEvents } from './helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
// From source, as test/cli.test.ts runs workers: the fixtures' step modules import src/.
const SRC_CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const STEPS = fileURLToPath(new URL('../fixtures/steps/', import.meta.url));
const run = promisify(execFile);
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function store(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-serve-cli-'));
  dirs.push(dir);
  return `sqlite:${join(dir, 'deflow.db')}`;
}

const env = (extra: Record<string, string> = {}) => {
  const { DEFLOW_TOKEN: _ignored, ...rest } = process.env;
  return { ...rest, ...extra };
};

it('refuses to listen on 0.0.0.0 without a token', async () => {
  const failure = await run(process.execPath, [CLI, 'serve', '--host', '0.0.0.0', '-b', store()], { env: env(), timeout: 30_000 }).then(
    () => null,
    (error: Error & { code?: number; stderr?: string }) => error,
  );
  expect(failure?.code).toBe(1);
  expect(failure?.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without a token/);
}, 40_000);

it('serves with the token from DEFLOW_TOKEN, never prints it, and stops on SIGTERM', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '-b', store()], { env: env({ DEFLOW_TOKEN: `${TOKEN},another-token-0123456789` }) });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!out.includes('http://') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(out.trim()).toBe(`http://127.0.0.1:${port}/`);
  expect(err).toMatch(/serving only \(no worker\), 2 tokens/);
  const base = `http://127.0.0.1:${port}`;
  expect((await fetch(`${base}/api/workflows`)).status).toBe(401);
  expect((await fetch(`${base}/api/workflows`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  expect((await fetch(`${base}/`)).headers.get('content-type')).toMatch(/text\/html/);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(out + err).not.toContain(TOKEN);
}, 60_000);

it('serve --steps is also a worker, and its stream sees another process start a workflow and finish it (SQLite: wake)', async () => {
  const port = await freePort();
  const backend = store();
  const child = spawn(process.execPath, ['--import', TSX, SRC_CLI, 'serve', '--port', String(port), '-b', backend, '--steps', STEPS, '--token', TOKEN], { env: env() });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 40_000;
    while (!out.includes('http://') && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(err).toMatch(/worker with \d+ step modules/);
    const base = `http://127.0.0.1:${port}`;
    await DeFlow.register({ backend, worker: false }).ready();
    const workflow = WorkFlow.create('served').addStep({ step: echo, tasks: [{ value: 1, ms: 300 }, { value: 2, ms: 300 }], options: { taskConcurrency: 1 } });
    const seen = readEvents(`${base}/api/stream`, AUTH, ({ event, data }) => event === 'workflow' && (data as { id: string }).id === workflow.id && (data as { status: string }).status === 'succeeded');
    await new Promise((resolve) => setTimeout(resolve, 300));
    workflow.run();
    await expect(seen).resolves.toBe('matched');
    await workflow.done();
    const nodes = (await (await fetch(`${base}/api/nodes`, { headers: AUTH })).json()) as { items: { pid: number }[] };
    expect(nodes.items.map((node) => node.pid)).toContain(child.pid);
  } finally {
    await DeFlow.unregister();
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
}, 90_000);

it('serve --workflows loads definitions that POST /api/workflows starts by name and runs them, and --triggers the webhooks that start them', async () => {
  const port = await freePort();
  const backend = store();
  const workflows = fileURLToPath(new URL('../fixtures/workflows/', import.meta.url));
  const hooks = fileURLToPath(new URL('../fixtures/triggers/echo-hook.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', TSX, SRC_CLI, 'serve', '--port', String(port), '-b', backend, '--workflows', workflows, '--triggers', hooks, '--token', TOKEN], {
    env: env(),
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 40_000;
    while (!out.includes('http://') && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(err).toMatch(/workflow definitions: .*fixture-echoes/);
    // No --steps: the server is the worker of its definitions' handlers (nothing else runs them here).
    expect(err).toMatch(/worker for its workflow definitions/);
    const base = `http://127.0.0.1:${port}`;
    const definitions = (await (await fetch(`${base}/api/definitions`, { headers: AUTH })).json()) as { items: { name: string }[] };
    expect(definitions.items.map((definition) => definition.name)).toContain('fixture-echoes');
    const start = await fetch(`${base}/api/workflows`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'fixture-echoes', input: { values: [1, 2] }, id: 'served-1' }),
    });
    expect(start.status).toBe(201);
    expect(await start.json()).toEqual({ id: 'served-1', created: true });
    // --triggers: the module's trigger takes a signed request, without the bearer token.
    expect(err).toMatch(/triggers: echo/);
    const body = JSON.stringify({ values: [3] });
    const hooked = await fetch(`${base}/triggers/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-delivery': 'hook-1', 'x-signature': `sha256=${createHmac('sha256', 'fixture-secret').update(body).digest('hex')}` },
      body,
    });
    expect(await hooked.json()).toEqual({ id: 'hook-1', created: true, workflow: 'fixture-echoes' });
    await DeFlow.register({ backend, worker: false }).ready();
    await (await WorkFlow.getById('served-1'))!.done();
    await (await WorkFlow.getById('hook-1'))!.done();
  } finally {
    await DeFlow.unregister();
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
}, 90_000);
