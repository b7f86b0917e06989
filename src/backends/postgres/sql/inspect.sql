-- Looking at a schema without changing it (read-only.ts, for deflow ls / show).

-- name: deflowSchemas
-- The schemas of this database that deflow built: those with both of its bookkeeping tables.
SELECT n.nspname AS name
FROM pg_namespace n
WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'migrations' AND c.relkind = 'r')
  AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'function_files' AND c.relkind = 'r')
ORDER BY n.nspname;
