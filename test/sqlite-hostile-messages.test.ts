/**
 * Rows another process writes to SQLite's events table are read like messages from a channel:
 * one that deflow did not write (junk, a wrong shape, not even text) is skipped and reported
 * once per kind; the node and its workflows carry on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, it } from 'vitest';
import DeFlow from '../src/index.js';
import { expectReported, runUnderJunk } from './helpers/hostile-messages.js';

const dir = mkdtempSync(join(tmpdir(), 'deflow-junk-'));
const file = join(dir, 'deflow.db');

afterEach(async () => {
  await DeFlow.unregister();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const JUNK: (string | Buffer)[] = ['null', '[]', '"str"', '{}', 'z'.repeat(2_000_000), Buffer.from([0x00, 0xff]), '{"type":"step"}', '{"type":"surprise"}'];

it('skips and reports malformed rows of the events table while a workflow runs', async () => {
  const warnings = await runUnderJunk({ backend: `sqlite:${file}`, pollInterval: 20 }, () => {
    const db = new Database(file, { timeout: 30_000 });
    try {
      const insert = db.prepare('INSERT INTO events (origin, payload, created_at) VALUES (?, ?, ?)');
      for (const payload of JUNK) insert.run('another-process', payload, Date.now());
    } finally {
      db.close();
    }
    return Promise.resolve();
  });
  expectReported(warnings, [
    'an event is null, not an object',
    'an event is an array, not an object',
    'an event is a string, not an object',
    'an event without a type',
    'not JSON',
    'not text',
    '"step" event lacks',
    'an event of an unknown type',
  ]);
});
