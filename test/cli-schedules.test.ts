/**
 * `deflow schedules`, run as a user runs it, on each backend: lists what DeFlow.schedule stored
 * (name, cron with its zone, workflow, options, last and next tick), and says so when there is none.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import DeFlow from '../src/index.js';
import './fixtures/workflows/echoes.js';
import { runCli } from './helpers/cli.js';
import { DATABASE_URL, dropSchemas, freshSchemaName } from './helpers/postgres.js';
import { REDIS_URL, deletePrefix, randomPrefix } from './helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'deflow-cli-schedules-'));
const schema = freshSchemaName();
const prefix = randomPrefix();
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas([schema]);
  await deletePrefix(prefix);
});

const backends: { name: string; register: Record<string, unknown>; args: string[] }[] = [
  { name: 'sqlite', register: { backend: `sqlite:${join(dir, 'deflow.db')}` }, args: ['--backend', `sqlite:${join(dir, 'deflow.db')}`] },
  { name: 'redis', register: { backend: REDIS_URL, prefix }, args: ['--backend', REDIS_URL, '--prefix', prefix] },
  { name: 'postgres', register: { backend: DATABASE_URL, schema }, args: ['--backend', DATABASE_URL, '--schema', schema] },
];

describe('deflow schedules', () => {
  for (const backend of backends) {
    it(`lists the stored schedules on ${backend.name}`, async () => {
      await DeFlow.register({ ...backend.register, worker: false }).ready();
      try {
        const none = await runCli(['schedules', ...backend.args], dir);
        expect(none.stderr).toBe('');
        expect(none.stdout).toMatch(/^no schedules in /);
        await DeFlow.schedule('nightly-report', { cron: '0 3 * * *', timezone: 'Europe/Paris', workflow: 'fixture-echoes', input: { values: [1] } });
        await DeFlow.schedule('every-5s', { cron: '*/5 * * * * *', workflow: 'fixture-echoes', overlap: 'allow', catchUp: 'latest' });
        const run = await runCli(['schedules', ...backend.args], dir);
        expect(run.stderr).toBe('');
        expect(run.code).toBe(0);
        const rows = run.stdout.split('\n').filter((line) => line.startsWith('│'));
        expect(rows[0]).toMatch(/name.*cron.*workflow.*overlap.*catch-up.*last tick.*last workflow.*next tick/);
        expect(rows[1]).toMatch(/every-5s\s*│\s*\*\/5 \* \* \* \* \*\s*│\s*fixture-echoes\s*│\s*allow\s*│\s*latest\s*│\s*-\s*│\s*│\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d[05]/);
        expect(rows[2]).toMatch(/nightly-report\s*│\s*0 3 \* \* \* \(Europe\/Paris\)\s*│\s*fixture-echoes\s*│\s*skip\s*│\s*none\s*│\s*-\s*│\s*│\s*\d{4}-\d\d-\d\d 0[12]:00:00/);
      } finally {
        await DeFlow.unregister();
      }
    }, 120_000);
  }
});
