// Migrations of the embedded schema applied to a file an earlier version wrote.
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../src/backends/sqlite/sqlite-backend.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A database file at schema version 1 holding two unfinished workflows stored before keepMs existed. */
function versionOneFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-migrate-'));
  dirs.push(dir);
  const path = join(dir, 'deflow.db');
  const db = new Database(path);
  db.exec('CREATE TABLE deflow_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  db.exec(readFileSync(new URL('../src/backends/sqlite/migrations/0001_initial.sql', import.meta.url), 'utf8'));
  db.prepare("INSERT INTO deflow_migrations VALUES (1, 'initial', 0)").run();
  const insert = db.prepare("INSERT INTO workflows (id, name, status, options, created_at) VALUES (?, 'old', 'running', ?, 0)");
  insert.run('clean', JSON.stringify({ cleanOnDone: true, retentionMs: 604_800_000, stepDefaults: {} }));
  insert.run('forever', JSON.stringify({ cleanOnDone: false, retentionMs: null, stepDefaults: {} }));
  db.close();
  return path;
}

describe('SQLite migrations', () => {
  it('gives workflows stored before keepMs the keep time they were created with', async () => {
    const backend = new SqliteBackend({ path: versionOneFile() });
    await backend.open();
    try {
      expect((await backend.getWorkflow('clean'))?.options).toEqual({ cleanOnDone: true, retentionMs: 604_800_000, keepMs: 5_000, stepDefaults: {} });
      expect((await backend.getWorkflow('forever'))?.options).toEqual({ cleanOnDone: false, retentionMs: null, keepMs: null, stepDefaults: {} });
    } finally {
      await backend.close();
    }
  });
});
