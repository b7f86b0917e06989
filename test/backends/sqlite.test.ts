import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import { runConformance } from '../conformance/index.js';
import echo from '../fixtures/steps/echo.js';
import { sqliteUnderTest } from '../helpers/backends.js';

runConformance(sqliteUnderTest());

describe('SQLite only', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await DeFlow.unregister();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('rejects ready() with a clear error when the database cannot be opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deflow-unwritable-'));
    dirs.push(dir);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    const deflow = DeFlow.register({ backend: `sqlite:${file}/deflow.db` });
    const retries: string[] = [];
    deflow.on('error', (error, during) => retries.push(during));
    await expect(deflow.ready()).rejects.toThrow(/cannot open the SQLite database at .*a-file\/deflow.db: .*Check that the directory is writable/);
    expect(retries).toEqual([]); // a file deflow cannot create is not waited for, whatever startupTimeout says
    await expect(WorkFlow.create('nowhere').addStep({ step: echo, tasks: [{ value: 1 }] }).run().done()).rejects.toMatchObject({ code: 'ERR_BACKEND' });
  });
});
