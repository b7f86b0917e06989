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
   * Overwrites, straight in the store, the handler reference (JSON HandlerRef: key, module...)
   * a step was stored with, as anyone who can write the backend could.
   */
  writeStepHandler(store: Record<string, unknown>, workflowId: string, stepId: string, handlerJson: string): Promise<void>;
}

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
    writeStepHandler(store, workflowId, stepId, handlerJson) {
      const db = new Database(sqliteFile(store), { timeout: 30_000 });
      try {
        const { changes } = db.prepare('UPDATE steps SET handler = ? WHERE workflow_id = ? AND id = ?').run(handlerJson, workflowId, stepId);
        if (changes !== 1) throw new Error(`no step ${stepId} of workflow ${workflowId}`);
      } finally {
        db.close();
      }
      return Promise.resolve();
    },
  };
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
