/**
 * The packed package, installed in a fresh project, serves its dashboard with `npx deflow serve`:
 * the dashboard's files are in the tarball and found from node_modules. Dependencies are linked
 * from this repository (no registry), as test/package/declarations.test.ts does.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { freePort } from '../helpers/free-port.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'package-test-token-0123456789';

let project: string | undefined;
afterAll(() => {
  if (project !== undefined) fs.rmSync(project, { recursive: true, force: true });
});

test('npx deflow serve from the installed tarball serves the dashboard and the API', async () => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'deflow-serve-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', project], { cwd: ROOT, timeout: 120_000 });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  const modules = path.join(project, 'node_modules');
  const installed = path.join(modules, 'deflow');
  fs.mkdirSync(installed, { recursive: true });
  await run('tar', ['-xzf', path.join(project, filename), '-C', installed, '--strip-components=1'], { timeout: 60_000 });
  const { dependencies } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of Object.keys(dependencies)) {
    const target = path.join(modules, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), target, 'dir');
  }
  fs.mkdirSync(path.join(modules, '.bin'));
  fs.symlinkSync('../deflow/dist/cli/main.js', path.join(modules, '.bin', 'deflow'));
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'a-user', private: true, type: 'module' }));

  const port = await freePort();
  const child = spawn('npx', ['--no-install', 'deflow', 'serve', '--port', String(port), '-b', `sqlite:${path.join(project, 'deflow.db')}`], {
    cwd: project,
    env: { ...process.env, DEFLOW_TOKEN: TOKEN },
    // Its own process group: npx does not pass signals on to the command it runs.
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    const deadline = Date.now() + 60_000;
    while (!out.includes('http://') && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(out, err).toContain(`http://127.0.0.1:${port}/`);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('dashboard/app.js');
    expect((await fetch(`http://127.0.0.1:${port}/dashboard/app.js`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/api/nodes`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  } finally {
    process.kill(-(child.pid ?? 0), 'SIGTERM');
  }
  // npx and the server it ran both got the signal; the server has closed its port.
  await exited;
  const deadline = Date.now() + 20_000;
  let open = true;
  while (open && Date.now() < deadline) {
    open = await fetch(`http://127.0.0.1:${port}/healthz`).then(() => true, () => false);
    if (open) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(open).toBe(false);
}, 150_000);
