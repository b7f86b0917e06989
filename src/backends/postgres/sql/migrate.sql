-- Migrating a schema at start (migrator.ts): numbered migrations (migrations/NNNN_*.sql, applied
-- once each, recorded in `migrations`), then the function files (functions/*.sql, re-applied
-- when their content changes, recorded with a checksum in `function_files`). All in one
-- transaction, under a transaction-level advisory lock keyed by schema, so nodes starting
-- together apply each of them exactly once.

-- name: lockMigrations
-- ($1 schema)
SELECT pg_advisory_xact_lock(hashtextextended('deflow.migrate.' || $1, 0));

-- name: setSchemaName
-- ($1 schema) Hands the schema name to createSchema without pasting it into SQL text.
SELECT set_config('deflow.schema', $1, true);

-- name: createSchema
-- Looked up first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema
-- exists, and a role given only its own schema (docs/security.md) has no such right.
DO $$ BEGIN
  IF to_regnamespace(quote_ident(current_setting('deflow.schema'))) IS NULL THEN
    EXECUTE format('CREATE SCHEMA %I', current_setting('deflow.schema'));
  END IF;
END $$;

-- name: createMigrationsTable
CREATE TABLE IF NOT EXISTS migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: appliedMigrations
SELECT version, name FROM migrations ORDER BY version;

-- name: recordMigration
-- ($1 version, $2 name)
INSERT INTO migrations (version, name) VALUES ($1, $2);

-- name: createFunctionFilesTable
-- One row per function file last applied: its content's checksum, and the signatures of the
-- functions it created (what is dropped before it runs again).
CREATE TABLE IF NOT EXISTS function_files (
  name       text PRIMARY KEY,
  checksum   text NOT NULL,
  functions  text[] NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: appliedFunctionFiles
SELECT name, checksum FROM function_files ORDER BY name;

-- name: setFilesToDrop
-- ($1 names of function files, a JSON array) Hands them to dropFunctionsOfFiles.
SELECT set_config('deflow.drop_files', $1, true);

-- name: dropFunctionsOfFiles
-- Drops the functions the files named by setFilesToDrop created, and forgets the files.
DO $$
DECLARE
  v_signature text;
BEGIN
  FOR v_signature IN
    SELECT DISTINCT unnest(f.functions) FROM function_files f
    WHERE f.name IN (SELECT jsonb_array_elements_text(current_setting('deflow.drop_files')::jsonb))
  LOOP
    EXECUTE 'DROP ROUTINE IF EXISTS ' || v_signature;
  END LOOP;
  DELETE FROM function_files
  WHERE name IN (SELECT jsonb_array_elements_text(current_setting('deflow.drop_files')::jsonb));
END
$$;

-- name: schemaFunctions
-- Oids (as text) of the schema's functions. Conditions on pg_proc rows compare oids and
-- namespaces only: the planner may test them on every function of the database, and naming a
-- function another session is dropping fails ("cache lookup failed").
SELECT coalesce(array_agg(p.oid::text), '{}') AS oids
FROM pg_proc p
WHERE p.pronamespace = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = current_schema()) AND p.prokind IN ('f', 'p');

-- name: recordFunctionFile
-- ($1 file name, $2 checksum, $3 schemaFunctions before the file ran: the others are its own)
-- Signatures as regprocedure text, unqualified (the schema is on the search_path).
INSERT INTO function_files (name, checksum, functions)
SELECT $1, $2, coalesce(array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text), '{}')
FROM pg_proc p
WHERE p.pronamespace = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = current_schema()) AND p.prokind IN ('f', 'p')
  AND NOT (p.oid = ANY ($3::text[]::oid[]));

-- name: begin
BEGIN;

-- name: commit
COMMIT;

-- name: rollback
ROLLBACK;
