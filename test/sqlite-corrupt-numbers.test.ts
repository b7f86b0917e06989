/**
 * Numbers SQLite's machine reads out of stored JSON (a workflow's keepMs, a step's
 * maxNodeLosses) when others wrote junk there: the default applies, never a thrown parse that
 * fails every recovery pass, nor a string added to a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClaimedJob, JobOutcome } from '../src/backends/backend.js';
import { SqliteBackend } from '../src/backends/sqlite/sqlite-backend.js';
import { oneStepWorkflow } from './helpers/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'deflow-numbers-'));
const file = join(dir, 'deflow.db');
let backend: SqliteBackend;

beforeAll(async () => {
  backend = new SqliteBackend({ path: file });
  await backend.open();
});

afterAll(async () => {
  try {
    await backend.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function write(sql: string, ...values: unknown[]): unknown[] {
  const db = new Database(file, { timeout: 30_000 });
  try {
    const statement = db.prepare(sql);
    if (statement.reader) return statement.all(...values);
    statement.run(...values);
    return [];
  } finally {
    db.close();
  }
}

function succeeded(job: ClaimedJob): JobOutcome {
  return { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token, status: 'succeeded', resultJson: '1', error: null };
}

describe('SQLite numbers in stored JSON', () => {
  it('recovers the lost jobs of steps whose stored options are not JSON, or hold junk for maxNodeLosses, by the default', async () => {
    const junk = { junk: '{"taskConcurrency": oops', 'no-number': '{"taskConcurrency":1,"taskTimeout":0,"taskMaxFailCount":1,"taskFailRetryDelay":0,"maxNodeLosses":"abc"}' };
    for (const [id, options] of Object.entries(junk)) {
      await backend.createWorkflow(oneStepWorkflow(id, 1));
      await backend.registerNode({ id: `holder-${id}`, host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      expect((await backend.claim({ nodeId: `holder-${id}`, workflowId: id, stepId: '1', limit: 1 })).jobs).toHaveLength(1);
      write('UPDATE steps SET options = ? WHERE workflow_id = ?', options, id);
      write('UPDATE nodes SET lease_expires_at = ? WHERE id = ?', Date.now() - 1, `holder-${id}`);
    }
    expect((await backend.recoverExpired(10)).recovered).toBe(2);
    for (const id of Object.keys(junk)) {
      const [task] = await backend.getTasks(id, '1', { afterSeq: 0, limit: 10 });
      expect(task?.error).toMatchObject({ code: 'ERR_NODE_LOST', lostCount: 1, maxNodeLosses: 3 });
    }
  });

  it('keeps a finished workflow whose stored keepMs is not a number, as if it had none', async () => {
    await backend.createWorkflow(oneStepWorkflow('keep-junk', 1));
    write(`UPDATE workflows SET options = json_set(options, '$.keepMs', 'abc') WHERE id = 'keep-junk'`);
    await backend.registerNode({ id: 'worker', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    const { jobs } = await backend.claim({ nodeId: 'worker', workflowId: 'keep-junk', stepId: '1', limit: 1 });
    await backend.complete({ outcomes: jobs.map(succeeded) });
    expect((await backend.getWorkflow('keep-junk'))?.status).toBe('succeeded');
    expect(write(`SELECT expires_at FROM workflows WHERE id = 'keep-junk'`)).toEqual([{ expires_at: null }]);
  });
});
