/** Where conformance tests keep their state: one fresh store per test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export interface BackendUnderTest {
  name: string;
  /** Register options pointing at a fresh, empty store. */
  fresh(): Promise<Record<string, unknown>>;
  /** Removes what fresh() created. */
  cleanup(): Promise<void>;
  /**
   * Makes the lease of node `nodeId` already expired, on the store's own clock, in the store
   * that `store` (options from fresh()) points at: the next watchdog round declares it dead.
   * Tests use it instead of sleeping until a lease runs out. Throws when the node is not there.
   */
  expireNode(store: Record<string, unknown>, nodeId: string): Promise<void>;
  /**
   * How many times each task's success is stored (seq -> count) in a store holding one
   * single-step workflow, where the backend keeps them in more than one place; else absent.
   */
  storedSuccesses?(store: Record<string, unknown>): Promise<Map<number, number>>;
  /**
   * Overwrites one stored field of a step (or, with `seq`, the data of one of its tasks) with
   * `value`, as anybody who can write the store could. Where a column cannot hold text that is
   * not JSON (PostgreSQL jsonb), such a value is stored as a JSON string: the wrong shape.
   */
  corruptRecord(store: Record<string, unknown>, target: CorruptTarget): Promise<void>;
  /** Features this backend refuses by design, each with the reason its tests are skipped for (said in the test's title). */
  refuses?: { keyConcurrency?: string; keyedRateLimit?: string };
  /** Documented differences in what a test can observe, each with the reason its test is skipped for. */
  differs?: { startOrder?: string };
}

/**
 * What corruptRecord overwrites: a step's handler reference, data, options or error, or a task's
 * data; or (Redis only: the others keep numbers in typed columns) a number the backend keeps in
 * the step's record, or with stepId null the workflow's, by the backend's own name for it, or
 * the state of a task's job.
 */
export type CorruptTarget =
  | { workflowId: string; stepId: string; field: 'handler' | 'data' | 'options' | 'error'; value: string }
  | { workflowId: string; stepId: string; seq: number; field: 'task data'; value: string }
  | { workflowId: string; stepId: string | null; field: 'number'; name: string; value: string }
  | { workflowId: string; stepId: string; seq: number; field: 'job state'; value: string };

export function sqliteUnderTest(): BackendUnderTest {
  const dirs: string[] = [];
  return {
    name: 'sqlite',
    fresh() {
      const dir = mkdtempSync(join(tmpdir(), 'deflow-test-'));
      dirs.push(dir);
      return Promise.resolve({ backend: `sqlite:${join(dir, 'deflow.db')}` });
    },
    cleanup() {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
    expireNode(store, nodeId) {
      expireSqliteNode(sqliteFile(store), nodeId);
      return Promise.resolve();
    },
    corruptRecord(store, target) {
      corruptSqliteRecord(sqliteFile(store), target);
      return Promise.resolve();
    },
  };
}

/** A task's job id is its step's pk times this, plus its seq (src/backends/sqlite/rows.ts). */
const SLOTS_PER_STEP = 67_108_864;

export function corruptSqliteRecord(file: string, target: CorruptTarget): void {
  if (target.field === 'number' || target.field === 'job state' || target.stepId === null) throw new Error('corruptRecord: a Redis-only target');
  const db = new Database(file, { timeout: 30_000 });
  try {
    const step = db.prepare('SELECT pk FROM steps WHERE workflow_id = ? AND id = ?').get(target.workflowId, target.stepId) as { pk: number } | undefined;
    if (step === undefined) throw new Error(`no step ${target.stepId} of workflow ${target.workflowId} in ${file}`);
    const { changes } =
      target.field === 'task data'
        ? db.prepare('UPDATE jobs SET data = ? WHERE id = ?').run(target.value, step.pk * SLOTS_PER_STEP + target.seq)
        : db.prepare(`UPDATE steps SET ${target.field} = ? WHERE pk = ?`).run(target.value, step.pk);
    if (changes !== 1) throw new Error(`nothing to corrupt for ${JSON.stringify(target)} in ${file}`);
  } finally {
    db.close();
  }
}

function sqliteFile(store: Record<string, unknown>): string {
  const backend = String(store.backend);
  if (!backend.startsWith('sqlite:')) throw new Error(`not a SQLite store: ${backend}`);
  return backend.slice('sqlite:'.length);
}

/** SQLite's clock is the writer's: a lease that ended a millisecond ago has run out for everybody. */
export function expireSqliteNode(file: string, nodeId: string): void {
  const db = new Database(file, { timeout: 30_000 });
  try {
    const { changes } = db.prepare('UPDATE nodes SET lease_expires_at = min(lease_expires_at, ?) WHERE id = ?').run(Date.now() - 1, nodeId);
    if (changes !== 1) throw new Error(`no node ${nodeId} in ${file}`);
  } finally {
    db.close();
  }
}
