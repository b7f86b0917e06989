/** `deflow show` lists the events a workflow received and the ones its steps still wait for. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../src/index.js';
import echo from './fixtures/steps/echo.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'deflow-show-events-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function show(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, MAIN, 'show', ...args], { cwd: dir, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

it('shows received events and "waiting for event" for a held-back step', async () => {
  const file = join(dir, 'deflow.db');
  await DeFlow.register({ backend: `sqlite:${file}`, worker: false }).ready();
  const workflow = await WorkFlow.create('show-events')
    .addStep({ name: 'ship', step: echo, tasks: [{ value: 1 }], waitFor: ['order.placed', 'payment.settled'], waitTimeout: 3_600_000 })
    .run()
    .started();
  await workflow.signal('order.placed', { order: 'A-1' }, { id: 'webhook-7' });
  await DeFlow.unregister();
  const run = await show([workflow.id, '--backend', `sqlite:${file}`]);
  expect(run.stderr).toBe('');
  expect(run.stdout).toMatch(/ship waiting for event payment\.settled \(since .*, times out .*\)/);
  expect(run.stdout).toContain('events received (1):');
  expect(run.stdout).toMatch(/order\.placed \{"order":"A-1"\} \(id webhook-7\)/);
}, 60_000);
