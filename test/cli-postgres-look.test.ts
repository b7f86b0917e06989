/**
 * `deflow ls` and `deflow show` on PostgreSQL only look: a schema that does not exist is refused
 * (not created), and a schema of an older deflow is refused (not migrated).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../src/index.js';
import { migrate } from '../src/backends/postgres/migrator.js';
import echo from './fixtures/steps/echo.js';
import { DATABASE_URL, dropSchemas, freshSchemaName, testPool, withAdmin } from './helpers/postgres.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

const schemas: string[] = [];
afterAll(async () => {
  await dropSchemas(schemas);
});

function deflow(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, NO_COLOR: '1', DEFLOW_BACKEND: DATABASE_URL };
    execFile(process.execPath, ['--import', TSX, MAIN, ...args], { timeout: 60_000, env }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

async function schemaExists(schema: string): Promise<boolean> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ found: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS found', [schema]);
    return rows[0]?.found === true;
  });
}

async function migrated(schema: string): Promise<void> {
  schemas.push(schema);
  const pool = testPool({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
  try {
    await migrate(pool, schema);
  } finally {
    await pool.end();
  }
}

describe('deflow ls / show on PostgreSQL only read', () => {
  it('refuses a schema that does not exist, names the deflow schemas there, and creates nothing', async () => {
    const existing = freshSchemaName();
    await migrated(existing);
    const typo = freshSchemaName();
    schemas.push(typo);
    for (const args of [['ls'], ['show', 'some-id']]) {
      const run = await deflow([...args, '--schema', typo]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`no deflow schema "${typo}" in postgres://`);
      expect(run.stderr).toContain(`"${existing}"`);
      expect(run.stderr).toMatch(/--schema <name>/);
      expect(await schemaExists(typo)).toBe(false);
    }
    const fine = await deflow(['ls', '--schema', existing]);
    expect(fine.stderr).toBe('');
    expect(fine.stdout).toMatch(/no workflows in postgres:\/\/.*\(schema deflow_t_/);
  }, 60_000);

  it('reads a current schema on read-only connections: ls lists its workflows, show shows one', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    DeFlow.register({ backend: DATABASE_URL, schema, worker: false });
    const workflow = WorkFlow.create('looked-at').addStep({ name: 'echo', step: echo, tasks: [{ value: 1 }] }).run();
    try {
      await workflow.started();
    } finally {
      await DeFlow.unregister();
    }
    const listed = await deflow(['ls', '--schema', schema]);
    expect(listed.stderr).toBe('');
    expect(listed.stdout).toContain(workflow.id);
    expect(listed.stdout).toContain('looked-at');
    const shown = await deflow(['show', workflow.id, '--schema', schema]);
    expect(shown.stderr).toBe('');
    expect(shown.stdout).toMatch(/looked-at .*\n\s+status\s+running/);
    expect(shown.stdout).toMatch(/echo\s*│\s*(pending|running)\s*│\s*0\/1/);
  }, 60_000);

  it('refuses a schema of an older deflow and leaves it unmigrated', async () => {
    const schema = freshSchemaName();
    await migrated(schema);
    // What an older deflow left: its history ends one migration earlier.
    const last = await withAdmin(async (client) => {
      const { rows } = await client.query<{ version: number }>(`DELETE FROM ${schema}.migrations WHERE version = (SELECT max(version) FROM ${schema}.migrations) RETURNING version`);
      return rows[0]?.version;
    });
    const run = await deflow(['ls', '--schema', schema]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`schema "${schema}" in postgres://\\S+ is at an older version of deflow`));
    expect(run.stderr).toMatch(/Start a node of this deflow version on it/);
    const recorded = await withAdmin(async (client) => (await client.query<{ version: number }>(`SELECT version FROM ${schema}.migrations`)).rows);
    expect(recorded.map((row) => row.version)).not.toContain(last);
  }, 60_000);
});
