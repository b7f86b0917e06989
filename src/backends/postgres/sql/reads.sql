-- Reads. Instants come back as epoch milliseconds (float8, exact: they are stored in ms).

-- name: now
SELECT floor(epoch_ms(clock_timestamp())) AS now;

-- name: getWorkflow
SELECT id, name, status, options, error, epoch_ms(created_at) AS created_at, epoch_ms(started_at) AS started_at,
       epoch_ms(finished_at) AS finished_at, open_steps
FROM workflows WHERE id = $1;

-- name: listWorkflows
-- ($1 name or null, $2 status or null, $3 created_at (ms) of the page cursor or null, $4 its id, $5 limit)
SELECT id, name, status, options, error, epoch_ms(created_at) AS created_at, epoch_ms(started_at) AS started_at,
       epoch_ms(finished_at) AS finished_at, open_steps
FROM workflows
WHERE ($1::text IS NULL OR name = $1)
  AND ($2::text IS NULL OR status = $2)
  AND ($3::float8 IS NULL OR (created_at, id) < (to_timestamp($3::float8 / 1000), $4::text))
ORDER BY created_at DESC, id DESC
LIMIT $5;

-- name: getSteps
-- Execution order first; steps that never started follow in declaration order.
SELECT s.workflow_id, s.id, s.name, s.handler, s.data, s.options, s.deps, a.id AS anchor_id, s.anchor_phase, s.anchor_seq,
       s.parent_id, s.decl_index, s.run_index, s.status, s.stage, s.total, s.done, s.failed, s.error,
       epoch_ms(s.started_at) AS started_at, epoch_ms(s.finished_at) AS finished_at
FROM steps s LEFT JOIN steps a ON a.pk = s.anchor_pk
WHERE s.workflow_id = $1
ORDER BY s.run_index NULLS LAST, s.decl_index;

-- name: getStep
SELECT s.workflow_id, s.id, s.name, s.handler, s.data, s.options, s.deps, a.id AS anchor_id, s.anchor_phase, s.anchor_seq,
       s.parent_id, s.decl_index, s.run_index, s.status, s.stage, s.total, s.done, s.failed, s.error,
       epoch_ms(s.started_at) AS started_at, epoch_ms(s.finished_at) AS finished_at
FROM steps s LEFT JOIN steps a ON a.pk = s.anchor_pk
WHERE s.workflow_id = $1 AND s.id = $2;

-- name: getTasks
-- ($1 workflow id, $2 step id, $3 after seq, $4 limit) Task seqs are 1..total without gaps, so
-- the page is seqs $3+1 .. $3+$4. A fresh task inside a leased range is 'leased' here; the
-- ones that succeeded in their range are in results (taskResults).
SELECT j.seq, j.data,
       CASE
         WHEN j.status = 'fresh' AND j.seq <= s.fresh_cursor THEN 'leased'
         WHEN j.status IN ('fresh', 'requeued') THEN 'ready'
         ELSE j.status::text
       END AS status,
       j.failed_count, j.result, j.error, epoch_ms(j.finished_at) AS finished_at
FROM steps s JOIN jobs j ON j.step_pk = s.pk
WHERE s.workflow_id = $1 AND s.id = $2 AND j.seq > $3 AND j.seq <= least($3::bigint + $4, 2147483646)
ORDER BY j.seq;

-- name: taskResults
-- ($1 workflow id, $2 step id, $3 after seq, $4 limit) Successes recorded in results batches
-- for the same page of seqs.
SELECT u.seq, u.result, u.error, epoch_ms(b.finished_at) AS finished_at
FROM steps s
JOIN results b ON b.step_pk = s.pk AND b.lo <= $3::bigint + $4 AND b.hi > $3
CROSS JOIN LATERAL unnest(b.seqs, b.results, b.errors) AS u(seq, result, error)
WHERE s.workflow_id = $1 AND s.id = $2 AND u.seq > $3 AND u.seq <= $3::bigint + $4;
