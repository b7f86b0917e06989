/**
 * `deflow show` of a workflow whose stored records are junk (written by something other than
 * deflow) prints what it can read instead of crashing: an unreadable error is shown as a
 * CorruptRecordError.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'deflow-corrupt-show-'));
const file = join(dir, 'deflow.db');

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const picky = new StepHandler<unknown, number, number>({
  name: 'corrupt-show-picky',
  handler(task) {
    if (task.data === 2) throw new Error('two is bad');
    return task.data;
  },
});

function show(id: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, MAIN, 'show', id, '--backend', `sqlite:${file}`],
      { cwd: dir, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    );
  });
}

it('shows a workflow whose stored records are junk, without crashing', async () => {
  await DeFlow.register({ backend: `sqlite:${file}` }).ready();
  const workflow = WorkFlow.create('corrupt-show').addStep({ step: picky, tasks: [1, 2, 3] }).run();
  await workflow.done().catch(() => undefined);
  await DeFlow.unregister();
  const db = new Database(file);
  try {
    db.prepare("UPDATE workflows SET options = '{junk', error = 'junk' WHERE id = ?").run(workflow.id);
    db.prepare("UPDATE steps SET handler = '{', data = '{', options = '[', deps = 'x', error = '5' WHERE workflow_id = ?").run(workflow.id);
    db.prepare("UPDATE jobs SET data = '{', error = '{' WHERE error IS NOT NULL").run();
  } finally {
    db.close();
  }
  const run = await show(workflow.id);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/status\s+failed/);
  expect(run.stdout).toContain('the stored error is not a JSON object');
  expect(run.stdout).toContain('failed tasks of corrupt-show-picky');
});
