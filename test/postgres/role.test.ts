/**
 * The PostgreSQL role of docs/security.md, created with the statements written there: a role
 * that owns its schema and has no other right migrates it and runs a whole workflow.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow from '../../src/index.js';
import { DATABASE_URL, withAdmin } from '../helpers/postgres.js';
import { runRestrictedWorkload } from '../helpers/restricted-workload.js';

const SECURITY_DOC = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
/** The first sql block of the PostgreSQL section: the statements an administrator runs. */
const SETUP = /## PostgreSQL[\s\S]*?```sql\n([\s\S]*?)```/.exec(SECURITY_DOC)?.[1] ?? '';

const created: { role: string; schema: string }[] = [];
afterEach(async () => {
  await DeFlow.unregister();
  await withAdmin(async (client) => {
    for (const { role, schema } of created.splice(0)) {
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(schema)} CASCADE`);
      await client.query(`DROP OWNED BY ${client.escapeIdentifier(role)}`);
      await client.query(`DROP ROLE IF EXISTS ${client.escapeIdentifier(role)}`);
    }
  });
});

describe('the documented PostgreSQL role', () => {
  it('creates a role and a schema with two statements', () => {
    expect(SETUP.trim().split('\n')).toEqual([
      "CREATE ROLE billing_app LOGIN PASSWORD 'change-me';",
      'CREATE SCHEMA billing AUTHORIZATION billing_app;',
    ]);
  });

  it('lets a role that owns only its schema migrate it and run a workflow, and nothing more', async () => {
    const suffix = randomBytes(4).toString('hex');
    const role = `deflow_role_${suffix}`;
    const schema = `deflow_sch_${suffix}`;
    created.push({ role, schema });
    await withAdmin((client) => client.query(SETUP.replaceAll('billing_app', role).replaceAll('billing', schema)));

    const url = new URL(DATABASE_URL);
    url.username = role;
    url.password = 'change-me';
    await runRestrictedWorkload({ backend: url.toString(), schema });

    // The role cannot reach beyond its schema.
    const denied = await withAdmin(async (client) => {
      await client.query(`SET ROLE ${client.escapeIdentifier(role)}`);
      const attempts = [`CREATE SCHEMA ${schema}_more`, 'CREATE TABLE public.deflow_role_probe (x int)'];
      const errors: string[] = [];
      for (const sql of attempts) errors.push(await client.query(sql).then(() => 'allowed', (e: Error) => e.message));
      await client.query('RESET ROLE');
      return errors;
    });
    expect(denied).toEqual([expect.stringMatching(/permission denied/), expect.stringMatching(/permission denied/)]);
  });
});
