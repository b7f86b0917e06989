/** Where conformance tests keep their state: one fresh store per test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BackendUnderTest {
  name: string;
  /** Register options pointing at a fresh, empty store. */
  fresh(): Promise<Record<string, unknown>>;
  /** Removes what fresh() created. */
  cleanup(): Promise<void>;
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
  };
}
