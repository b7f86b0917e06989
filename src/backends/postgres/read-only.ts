/**
 * Opening a schema only to look at it (deflow ls / show): the schema must exist and be at this
 * deflow's migration, and nothing is created or migrated. A mistyped schema name is refused
 * (naming the deflow schemas that do exist) instead of being created empty, and an older
 * schema is left for a node of this version to migrate, never migrated by a look.
 */
import type { Pool } from 'pg';
import { BackendError } from '../../errors.js';
import type { PostgresConfig } from './config.js';
import { redactUrl } from './config.js';
import { checkHistory } from './migration-history.js';
import type { RecordedMigration } from './migration-history.js';
import { migrations, queries } from './queries.js';

export async function checkReadableSchema(pool: Pool, config: PostgresConfig): Promise<void> {
  const q = queries();
  const where = redactUrl(config.url);
  const { rows: schemas } = await pool.query<{ name: string }>(q.deflowSchemas);
  const names = schemas.map((row) => row.name);
  if (!names.includes(config.schema)) {
    const found =
      names.length === 0
        ? 'it has no deflow schema at all (a node creates its schema when it starts: run a workflow first, e.g. npx deflow demo -b <url>)'
        : `its deflow schemas are ${names.map((name) => `"${name}"`).join(', ')}`;
    throw new BackendError(
      `no deflow schema "${config.schema}" in ${where}: ${found}. Choose the schema with --schema <name> ` +
        '(DeFlow.register options.schema, or ?schema=<name> in the URL).',
    );
  }
  const { rows: recorded } = await pool.query<RecordedMigration>(q.appliedMigrations);
  const known = migrations();
  try {
    checkHistory(config.schema, recorded, known);
  } catch (error) {
    throw new BackendError(`cannot read ${where}: ${(error as Error).message}`, { cause: error });
  }
  const applied = new Set(recorded.map((m) => m.version));
  const pending = known.filter((m) => !applied.has(m.version));
  if (pending.length > 0) {
    const last = recorded.at(-1);
    const newest = known.at(-1);
    throw new BackendError(
      `schema "${config.schema}" in ${where} is at an older version of deflow (migration ${fileName(last)}; this deflow needs ` +
        `${fileName(newest)}), and a look does not migrate it. Start a node of this deflow version on it ` +
        "(your app's DeFlow.register, or deflow worker), which migrates it, then look again; or use the deflow version that wrote it.",
    );
  }
}

function fileName(m: RecordedMigration | undefined): string {
  return m === undefined ? 'none' : `${String(m.version).padStart(4, '0')}_${m.name}`;
}
