-- Reads. Instants come back as epoch milliseconds (float8, exact: they are stored in ms);
-- stored errors as JSON text, for readFailure (rows.ts).

-- name: now
SELECT floor(epoch_ms(clock_timestamp())) AS now;

-- name: getWorkflow
SELECT id, name, business_key AS key, status, options, error::text AS error, epoch_ms(created_at) AS created_at, epoch_ms(started_at) AS started_at,
       epoch_ms(finished_at) AS finished_at, open_steps, retries
FROM workflows WHERE id = $1;

-- name: listWorkflows
-- ($1 name or null, $2 status or null, $3 created_at (ms) of the page cursor or null, $4 its id, $5 limit)
SELECT id, name, business_key AS key, status, options, error::text AS error, epoch_ms(created_at) AS created_at, epoch_ms(started_at) AS started_at,
       epoch_ms(finished_at) AS finished_at, open_steps, retries
FROM workflows
WHERE ($1::text IS NULL OR name = $1)
  AND ($2::text IS NULL OR status = $2)
  AND ($3::float8 IS NULL OR (created_at, id) < (to_timestamp($3::float8 / 1000), $4::text))
ORDER BY created_at DESC, id DESC
LIMIT $5;

-- name: listWorkflowsByKey
-- ($1 key, $2 name or null, $3 status or null, $4 created_at (ms) of the page cursor or null, $5 its id, $6 limit)
-- Its own query so that the workflows_by_key index serves it.
SELECT id, name, business_key AS key, status, options, error::text AS error, epoch_ms(created_at) AS created_at, epoch_ms(started_at) AS started_at,
       epoch_ms(finished_at) AS finished_at, open_steps
FROM workflows
WHERE business_key = $1
  AND ($2::text IS NULL OR name = $2)
  AND ($3::text IS NULL OR status = $3)
  AND ($4::float8 IS NULL OR (created_at, id) < (to_timestamp($4::float8 / 1000), $5::text))
ORDER BY created_at DESC, id DESC
LIMIT $6;

-- name: countWorkflows
-- ($1 name or null)
SELECT status, COUNT(*)::int AS n FROM workflows
WHERE ($1::text IS NULL OR name = $1)
GROUP BY status;

-- name: countWorkflowsByKey
-- ($1 key, $2 name or null) Its own query so that the workflows_by_key index serves it.
SELECT status, COUNT(*)::int AS n FROM workflows
WHERE business_key = $1
  AND ($2::text IS NULL OR name = $2)
GROUP BY status;

-- name: getSteps
-- Execution order first; steps that never started follow in declaration order.
SELECT s.workflow_id, s.id, s.name, s.handler, s.data, s.options, s.deps, a.id AS anchor_id, s.anchor_phase, s.anchor_seq,
       s.parent_id, s.decl_index, s.run_index, s.status, s.stage, s.total, s.done, s.failed, s.error::text AS error,
       epoch_ms(s.started_at) AS started_at, epoch_ms(s.finished_at) AS finished_at, epoch_ms(s.due_at) AS ready_at,
       epoch_ms(s.wait_since) AS wait_since, epoch_ms(s.wait_due) AS wait_due
FROM steps s LEFT JOIN steps a ON a.pk = s.anchor_pk
WHERE s.workflow_id = $1
ORDER BY s.run_index NULLS LAST, s.decl_index;

-- name: getStep
SELECT s.workflow_id, s.id, s.name, s.handler, s.data, s.options, s.deps, a.id AS anchor_id, s.anchor_phase, s.anchor_seq,
       s.parent_id, s.decl_index, s.run_index, s.status, s.stage, s.total, s.done, s.failed, s.error::text AS error,
       epoch_ms(s.started_at) AS started_at, epoch_ms(s.finished_at) AS finished_at, epoch_ms(s.due_at) AS ready_at,
       epoch_ms(s.wait_since) AS wait_since, epoch_ms(s.wait_due) AS wait_due
FROM steps s LEFT JOIN steps a ON a.pk = s.anchor_pk
WHERE s.workflow_id = $1 AND s.id = $2;

-- name: getTasks
-- ($1 workflow id, $2 step id, $3 after seq, $4 limit) One page of tasks in seq order; a fresh
-- task inside a leased range is 'leased' (see task_page in functions/08_reads.sql).
SELECT seq, data, status, failed_count, result, error::text AS error, finished_at, lost_count FROM task_page($1, $2, $3, $4);
