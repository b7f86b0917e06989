/**
 * The PostgreSQL migrator: the baseline and the numbered migrations once each, the function
 * files again only when their content changed (a signature change included), under one
 * advisory lock when nodes race, and a clear refusal for schemas it must not touch (built by
 * the squashed development migrations, or by another deflow).
 */
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError } from '../../src/errors.js';
import { clientConfig } from '../../src/backends/postgres/config.js';
import { bundledSources, migrate } from '../../src/backends/postgres/migrator.js';
import type { MigrationSources } from '../../src/backends/postgres/migrator.js';
import { functionFile } from '../../src/backends/postgres/queries.js';
import { DATABASE_URL, dropSchemas, freshSchemaName, openPostgresBackend, testPool, withAdmin } from '../helpers/postgres.js';

const schemas: string[] = [];
const pools: pg.Pool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end()));
  await dropSchemas(schemas.splice(0));
});

function fresh(): string {
  const schema = freshSchemaName();
  schemas.push(schema);
  return schema;
}

/** A pool like the backend's: its connections have the schema as search_path. */
function poolFor(schema: string): pg.Pool {
  const pool = testPool({ ...clientConfig({ url: DATABASE_URL, schema, poolSize: 1, recoverIntervalMs: 0 }), max: 1 });
  pools.push(pool);
  return pool;
}

async function sql<T extends pg.QueryResultRow>(schema: string, text: string, values: unknown[] = []): Promise<T[]> {
  return withAdmin(async (client) => (await client.query<T>(text.replaceAll('$schema', client.escapeIdentifier(schema)), values)).rows);
}

/** Function signature -> oid: an oid that changed is a function created again. */
async function functionOids(schema: string): Promise<Map<string, string>> {
  const rows = await sql<{ signature: string; oid: string }>(
    schema,
    `SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS signature, p.oid::text AS oid
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1`,
    [schema],
  );
  return new Map(rows.map((row) => [row.signature, row.oid]));
}

async function recordedFiles(schema: string): Promise<{ name: string; checksum: string; functions: string[] }[]> {
  return sql(schema, 'SELECT name, checksum, functions FROM $schema.function_files ORDER BY name');
}

/** The bundled sources with one function file's content replaced (or a file added). */
function withFile(name: string, content: string, sources: MigrationSources = bundledSources()): MigrationSources {
  const others = sources.functionFiles.filter((file) => file.name !== name);
  return { ...sources, functionFiles: [...others, functionFile(name, content)].sort((a, b) => a.name.localeCompare(b.name)) };
}

const bundledNames = bundledSources().functionFiles.map((file) => file.name);
const bundledMigrations = bundledSources().migrations.map(({ version, name }) => ({ version, name }));
const bundledVersions = bundledMigrations.map((migration) => migration.version);
/** The version a migration added after the bundled ones gets. */
const nextVersion = (bundledVersions.at(-1) ?? 0) + 1;

function fileName(migration: { version: number; name: string }): string {
  return `${String(migration.version).padStart(4, '0')}_${migration.name}`;
}

describe('PostgreSQL migrator', () => {
  it('migrates a fresh schema with the baseline and every function file, and a second run applies nothing', async () => {
    const schema = fresh();
    const pool = poolFor(schema);
    expect(await migrate(pool, schema)).toEqual({ migrations: bundledVersions, functionFiles: bundledNames });

    const recorded = await recordedFiles(schema);
    expect(recorded.map((file) => file.name)).toEqual(bundledNames);
    expect(recorded.map((file) => file.checksum)).toEqual(bundledSources().functionFiles.map((file) => file.checksum));
    // Every function of the schema belongs to exactly one file.
    const oids = await functionOids(schema);
    const owned = recorded.flatMap((file) => file.functions);
    expect(new Set(owned).size).toBe(owned.length);
    expect(owned.length).toBe(oids.size);
    expect(owned).toContain('claim_jobs(text,text,text,integer,bigint)');

    expect(await migrate(pool, schema)).toEqual({ migrations: [], functionFiles: [] });
    expect(await functionOids(schema)).toEqual(oids);
    expect(await sql(schema, 'SELECT version, name FROM $schema.migrations ORDER BY version')).toEqual(bundledMigrations);
  });

  it('re-applies a function file whose content changed, and no other', async () => {
    const schema = fresh();
    const pool = poolFor(schema);
    await migrate(pool, schema);
    const before = await functionOids(schema);
    const retention = bundledSources().functionFiles.find((file) => file.name === '07_retention.sql');
    expect(retention).toBeDefined();
    const edited = withFile('07_retention.sql', `${retention?.sql ?? ''}\n-- an edit\n`);

    expect(await migrate(pool, schema, edited)).toEqual({ migrations: [], functionFiles: ['07_retention.sql'] });
    const after = await functionOids(schema);
    expect(after.get('sweep(p_limit integer, p_job_budget integer)')).not.toBe(before.get('sweep(p_limit integer, p_job_budget integer)'));
    for (const [signature, oid] of before) {
      if (!['sweep', 'remove_workflow', 'remove_workflow_rows', 'gc_jobs'].includes(signature.split('(')[0] ?? '')) {
        expect(after.get(signature), signature).toBe(oid);
      }
    }
    expect((await recordedFiles(schema)).find((file) => file.name === '07_retention.sql')?.checksum).toBe(
      edited.functionFiles.find((file) => file.name === '07_retention.sql')?.checksum,
    );
    // Unchanged since: nothing. Back to the bundled file: that file again.
    expect(await migrate(pool, schema, edited)).toEqual({ migrations: [], functionFiles: [] });
    expect(await migrate(pool, schema)).toEqual({ migrations: [], functionFiles: ['07_retention.sql'] });
  });

  it("lets a function file change a function's arguments and return type, and drops what a file no longer defines", async () => {
    const schema = fresh();
    const pool = poolFor(schema);
    const first = withFile(
      '08_probe.sql',
      `CREATE FUNCTION probe(p_a integer) RETURNS integer LANGUAGE sql AS $$ SELECT p_a + 1 $$;
       CREATE FUNCTION probe_helper() RETURNS timestamptz LANGUAGE sql AS $$ SELECT ms_now() $$;`,
    );
    await migrate(pool, schema, first);
    expect((await sql<{ v: number }>(schema, 'SELECT $schema.probe(1) AS v'))[0]?.v).toBe(2);

    // CREATE OR REPLACE could change neither the argument name nor the return type.
    const second = withFile('08_probe.sql', `CREATE FUNCTION probe(p_b integer) RETURNS text LANGUAGE sql AS $$ SELECT 'got ' || p_b $$;`);
    expect(await migrate(pool, schema, second)).toEqual({ migrations: [], functionFiles: ['08_probe.sql'] });
    expect((await sql<{ v: string }>(schema, 'SELECT $schema.probe(1) AS v'))[0]?.v).toBe('got 1');
    let signatures = [...(await functionOids(schema)).keys()];
    expect(signatures.filter((signature) => signature.startsWith('probe'))).toEqual(['probe(p_b integer)']);

    // The file is gone: so are its functions and its record.
    expect(await migrate(pool, schema)).toEqual({ migrations: [], functionFiles: [] });
    signatures = [...(await functionOids(schema)).keys()];
    expect(signatures.filter((signature) => signature.startsWith('probe'))).toEqual([]);
    expect((await recordedFiles(schema)).map((file) => file.name)).toEqual(bundledNames);
  });

  it('fails, changing nothing, when two function files define the same function', async () => {
    const schema = fresh();
    const pool = poolFor(schema);
    await migrate(pool, schema);
    const oids = await functionOids(schema);
    const twice = withFile('08_twice.sql', 'CREATE FUNCTION ms_now() RETURNS timestamptz LANGUAGE sql STABLE AS $$ SELECT now() $$;');
    await expect(migrate(pool, schema, twice)).rejects.toThrow(/function "ms_now" already exists/);
    expect(await functionOids(schema)).toEqual(oids);
    expect((await recordedFiles(schema)).map((file) => file.name)).toEqual(bundledNames);
  });

  it('drops every function before a pending numbered migration and applies every function file after it', async () => {
    const schema = fresh();
    const pool = poolFor(schema);
    await migrate(pool, schema);
    // Replacing a table whose row type functions take (lease_taken, gone_with) is only possible
    // with those functions gone.
    const sources = bundledSources();
    const replaceLeases = {
      version: nextVersion,
      name: 'replace_leases',
      sql: 'ALTER TABLE leases RENAME TO leases_old; CREATE TABLE leases (LIKE leases_old INCLUDING ALL); DROP TABLE leases_old;',
    };
    const next = { ...sources, migrations: [...sources.migrations, replaceLeases] };
    expect(await migrate(pool, schema, next)).toEqual({ migrations: [nextVersion], functionFiles: bundledNames });
    expect(await migrate(pool, schema, next)).toEqual({ migrations: [], functionFiles: [] });
    const leaseTaken = [...(await functionOids(schema)).keys()].filter((signature) => signature.startsWith('lease_taken('));
    expect(leaseTaken).toEqual([`lease_taken(p_lease ${schema}.leases, p_seq integer)`]);
  });

  it('upgrades a baseline schema: workflows stored before keepMs get it as it was decided then', async () => {
    const schema = fresh();
    const pool = poolFor(schema);
    const [baseline] = bundledSources().migrations;
    expect(baseline?.name).toBe('baseline');
    await migrate(pool, schema, { migrations: baseline === undefined ? [] : [baseline], functionFiles: [] });
    const stored = [
      ['grace', { cleanOnDone: true, retentionMs: 60_000, stepDefaults: {} }],
      ['kept', { cleanOnDone: false, retentionMs: 60_000, stepDefaults: {} }],
      ['forever', { cleanOnDone: false, retentionMs: null, stepDefaults: {} }],
      ['resolved', { cleanOnDone: false, retentionMs: 60_000, keepMs: 7, stepDefaults: {} }],
    ] as const;
    for (const [id, options] of stored) {
      await sql(schema, "INSERT INTO $schema.workflows (id, name, status, options, created_at) VALUES ($1, 'old', 'running', $2, now())", [
        id,
        JSON.stringify(options),
      ]);
    }

    expect(await migrate(pool, schema)).toEqual({ migrations: bundledVersions.slice(1), functionFiles: bundledNames });
    const rows = await sql<{ id: string; keep: number | null }>(schema, "SELECT id, (options->>'keepMs')::int AS keep FROM $schema.workflows ORDER BY id");
    expect(rows).toEqual([
      { id: 'forever', keep: null },
      { id: 'grace', keep: 5000 },
      { id: 'kept', keep: 60_000 },
      { id: 'resolved', keep: 7 },
    ]);
    expect(await sql(schema, "SELECT options ? 'keepMs' AS has FROM $schema.workflows WHERE id = 'forever'")).toEqual([{ has: true }]);
  });

  it('applies function files while other sessions drop schemas with functions of their own', async () => {
    // The migrator reads pg_proc; naming a function that another session drops at that moment
    // fails ("cache lookup failed for type"), so it must only ever name functions of its schema.
    const schema = fresh();
    const pool = poolFor(schema);
    await migrate(pool, schema);
    const churn = fresh();
    let stop = false;
    const churning = withAdmin(async (client) => {
      const s = client.escapeIdentifier(churn);
      while (!stop) {
        await client.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.t (id integer);
          CREATE FUNCTION ${s}.f(p ${s}.t) RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$`);
        await client.query(`DROP SCHEMA ${s} CASCADE`);
      }
    });
    try {
      for (let i = 0; i < 15; i++) {
        const edited = withFile('08_probe.sql', `CREATE FUNCTION probe() RETURNS integer LANGUAGE sql AS $$ SELECT ${i} $$;`);
        expect(await migrate(pool, schema, edited)).toEqual({ migrations: [], functionFiles: ['08_probe.sql'] });
      }
    } finally {
      stop = true;
      await churning;
    }
  });

  it('lets migrators racing on a fresh schema all succeed, applying everything once', async () => {
    const schema = fresh();
    const reports = await Promise.all([poolFor(schema), poolFor(schema), poolFor(schema)].map((pool) => migrate(pool, schema)));
    const applied = reports.filter((report) => report.migrations.length > 0);
    expect(applied).toEqual([{ migrations: bundledVersions, functionFiles: bundledNames }]);
    expect(reports.filter((report) => report.migrations.length === 0 && report.functionFiles.length === 0)).toHaveLength(2);
    expect(await sql(schema, 'SELECT count(*)::int AS n FROM $schema.migrations')).toEqual([{ n: bundledVersions.length }]);
    expect(await sql(schema, 'SELECT count(*)::int AS n FROM $schema.function_files')).toEqual([{ n: bundledNames.length }]);
  });

  it('refuses a schema built by the squashed development migrations, telling to drop it, and changes nothing', async () => {
    const schema = fresh();
    const squashed = ['tables', 'events', 'step_machine', 'definition', 'claims', 'completion', 'nodes', 'retention', 'claim_calls', 'outage_grace'];
    await withAdmin(async (client) => {
      const s = client.escapeIdentifier(schema);
      await client.query(`CREATE SCHEMA ${s}`);
      await client.query(`CREATE TABLE ${s}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      await client.query(`CREATE TABLE ${s}.workflows (id text PRIMARY KEY)`);
      await client.query(`CREATE FUNCTION ${s}.claim_jobs(p_node_id text) RETURNS void LANGUAGE sql AS $$ SELECT $$`);
      await client.query(`INSERT INTO ${s}.migrations (version, name) SELECT i, ($1::text[])[i] FROM generate_series(1, 10) AS i`, [squashed]);
    });
    const message = new RegExp(
      `schema "${schema}" was built by a development version of deflow \\(its migrations are 0001_tables … 0010_outage_grace, ` +
        `since squashed into 0001_baseline\\) and cannot be upgraded: drop it \\(DROP SCHEMA "${schema}" CASCADE`,
    );
    await expect(migrate(poolFor(schema), schema)).rejects.toThrow(message);

    // Through the backend: a BackendError naming the server, with the same advice.
    const error = await openPostgresBackend(schema).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/^cannot open the PostgreSQL backend at .*: schema ".*" was built by a development version/);
    expect((error as Error).message).toMatch(message);

    // Nothing was touched.
    expect(await sql(schema, 'SELECT count(*)::int AS n FROM $schema.migrations')).toEqual([{ n: 10 }]);
    expect(await sql(schema, "SELECT to_regclass($1 || '.function_files') IS NULL AS absent", [schema])).toEqual([{ absent: true }]);
    expect([...(await functionOids(schema)).keys()]).toEqual(['claim_jobs(p_node_id text)']);

    // A development schema from before the last of those migrations is refused the same way.
    await sql(schema, 'DELETE FROM $schema.migrations WHERE version > 8');
    await expect(migrate(poolFor(schema), schema)).rejects.toThrow(/0001_tables … 0008_retention, since squashed into 0001_baseline/);

    // Done as told, the schema is created afresh.
    await dropSchemas([schema]);
    expect(await migrate(poolFor(schema), schema)).toEqual({ migrations: bundledVersions, functionFiles: bundledNames });
  });

  it('refuses a schema migrated by a newer or another build of deflow, touching no function', async () => {
    const schema = fresh();
    const pool = poolFor(schema);
    await migrate(pool, schema);
    await sql(schema, "INSERT INTO $schema.migrations (version, name) VALUES ($1, 'from_the_future')", [nextVersion]);
    const oids = await functionOids(schema);
    const future = fileName({ version: nextVersion, name: 'from_the_future' });
    const newest = fileName(bundledMigrations.at(-1) ?? { version: 0, name: 'none' });
    await expect(migrate(pool, schema)).rejects.toThrow(
      `schema "${schema}" was migrated by a newer deflow (it has migration ${future}, this deflow knows up to ${newest}): ` +
        'run the same deflow version in every process that uses the schema',
    );
    const edited = withFile('07_retention.sql', '-- an older or newer file\n');
    await expect(migrate(pool, schema, edited)).rejects.toThrow(/newer deflow/);
    expect(await functionOids(schema)).toEqual(oids);

    await sql(schema, 'DELETE FROM $schema.migrations WHERE version = $1', [nextVersion]);
    const sources = bundledSources();
    const renamed = { ...sources, migrations: sources.migrations.map((m) => ({ ...m, name: 'another' })) };
    await expect(migrate(pool, schema, renamed)).rejects.toThrow(
      `schema "${schema}" has migration 0001_baseline where this deflow has 0001_another: it was migrated by another build of deflow`,
    );
  });
});
