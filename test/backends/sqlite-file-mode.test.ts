/** The SQLite store holds every payload: the files deflow creates are its owner's alone. */
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-mode-'));
  dirs.push(dir);
  return dir;
}
const mode = (path: string): number => statSync(path).mode & 0o777;

afterEach(async () => {
  await DeFlow.unregister();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('SQLite file modes', () => {
  it('creates the database, its -wal and -shm files 0600 and its directory 0700', async () => {
    const dir = join(tempDir(), 'state');
    const file = join(dir, 'deflow.db');
    await DeFlow.register({ backend: `sqlite:${file}` }).ready();
    await WorkFlow.create('modes').addStep({ step: echo, tasks: [{ value: 1 }] }).run().done();
    expect(mode(file)).toBe(0o600);
    for (const companion of [`${file}-wal`, `${file}-shm`]) {
      expect(existsSync(companion)).toBe(true); // open in WAL mode while registered
      expect(mode(companion)).toBe(0o600);
    }
    expect(mode(dir)).toBe(0o700);
  });

  it('leaves the mode of an existing database file as its owner set it', async () => {
    const file = join(tempDir(), 'shared.db');
    writeFileSync(file, '');
    chmodSync(file, 0o640);
    await DeFlow.register({ backend: `sqlite:${file}` }).ready();
    await WorkFlow.create('kept').addStep({ step: echo, tasks: [{ value: 1 }] }).run().done();
    expect(mode(file)).toBe(0o640);
  });
});
