-- Migrations: applied at start, in one transaction, under a transaction-level advisory lock
-- keyed by schema, so nodes starting together apply each migration exactly once.

-- name: lockMigrations
-- ($1 schema)
SELECT pg_advisory_xact_lock(hashtextextended('deflow.migrate.' || $1, 0));

-- name: setSchemaName
-- ($1 schema) Hands the schema name to createSchema without pasting it into SQL text.
SELECT set_config('deflow.schema', $1, true);

-- name: createSchema
DO $$ BEGIN EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', current_setting('deflow.schema')); END $$;

-- name: createMigrationsTable
CREATE TABLE IF NOT EXISTS migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: appliedMigrations
SELECT version FROM migrations ORDER BY version;

-- name: recordMigration
-- ($1 version, $2 name)
INSERT INTO migrations (version, name) VALUES ($1, $2);

-- name: begin
BEGIN;

-- name: commit
COMMIT;

-- name: rollback
ROLLBACK;
