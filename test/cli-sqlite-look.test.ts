/**
 * `deflow ls` and `deflow show` on SQLite only read: a file deflow did not make gets no deflow
 * tables, and a database of an older deflow is refused instead of migrated.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import DeFlow from '../src/index.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'deflow-look-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function deflow(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, MAIN, ...args], { cwd: dir, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

function tables(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((row) => row.name);
  } finally {
    db.close();
  }
}

describe('deflow ls / show on SQLite only read', () => {
  it('refuses a file deflow did not make, and adds nothing to it', async () => {
    const file = join(dir, 'app.db');
    const db = new Database(file);
    db.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
    db.close();
    for (const args of [['ls'], ['show', 'some-id']]) {
      const run = await deflow([...args, '--backend', `sqlite:${file}`]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${file} is not a deflow database`);
    }
    expect(tables(file)).toEqual(['invoices']);
  }, 60_000);

  it('refuses a database of an older deflow and leaves it unmigrated, and reads a current one', async () => {
    const file = join(dir, 'deflow.db');
    await DeFlow.register({ backend: `sqlite:${file}`, worker: false }).ready();
    await DeFlow.unregister();
    const current = await deflow(['ls', '--backend', `sqlite:${file}`]);
    expect(current.stderr).toBe('');
    expect(current.stdout).toContain(`no workflows in ${file}`);
    // What an older deflow left: its history ends one migration earlier.
    const db = new Database(file);
    const last = (db.prepare('SELECT MAX(version) AS v FROM deflow_migrations').get() as { v: number }).v;
    db.prepare('DELETE FROM deflow_migrations WHERE version = ?').run(last);
    db.close();
    const run = await deflow(['ls', '--backend', `sqlite:${file}`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`the deflow database at ${file} is at an older version of deflow`);
    expect(run.stderr).toMatch(/Start a node of this deflow version on it/);
    const check = new Database(file, { readonly: true });
    expect((check.prepare('SELECT MAX(version) AS v FROM deflow_migrations').get() as { v: number }).v).toBe(last - 1);
    check.close();
  }, 60_000);
});
