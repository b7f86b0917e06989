-- Retention (functions/07_retention.sql).

-- name: removeWorkflow
SELECT remove_workflow($1) AS removed;

-- name: sweep
-- ($1 most workflows, $2 most jobs of removed workflows to delete)
SELECT sweep($1, $2) AS removed;
