-- Queries on workflows. Each block starts with "-- name: <key>"; parameters are named (@x) or positional (?).

-- name: insertWorkflow
INSERT INTO workflows (id, name, business_key, status, options, created_at, watch_next_task, open_steps)
VALUES (@id, @name, @key, 'pending', @options, @now, @watch, @openSteps)
ON CONFLICT (id) DO NOTHING;

-- name: getWorkflow
SELECT * FROM workflows WHERE id = ?;

-- name: idsByNameExcept
SELECT id FROM workflows WHERE name = @name AND id <> @id;

-- name: addOpenSteps
UPDATE workflows SET open_steps = open_steps + @delta WHERE id = @id;

-- name: markWorkflowRunning
UPDATE workflows
SET status = CASE WHEN status = 'pending' THEN 'running' ELSE status END, started_at = COALESCE(started_at, @now)
WHERE id = @id;

-- name: nextRunIndex
UPDATE workflows
SET run_seq = run_seq + 1,
    status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
    started_at = COALESCE(started_at, @now)
WHERE id = @id
RETURNING run_seq;

-- name: finishWorkflow
UPDATE workflows
SET status = @status, error = @error, finished_at = @now, expires_at = @expiresAt
WHERE id = @id AND status IN ('pending', 'running', 'paused');

-- name: firstUnhandledFailure
-- A failed step whose failure no step handles with when: 'failure' | 'always'.
-- Steps added by addAfter are excluded: their failure already failed the step they belong to.
-- First by execution order (steps that never reached their tasks first), then declaration order.
SELECT s.id, s.name, s.failed_stage, s.error FROM steps s
WHERE s.workflow_id = ? AND s.status = 'failed' AND s.anchor_pk IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM step_edges e WHERE e.parent_pk = s.pk AND e.on_cond IN ('failure', 'always')
  )
ORDER BY s.run_index, s.decl_index
LIMIT 1;

-- name: watchNextTask
UPDATE workflows SET watch_next_task = 1 WHERE id = ?;

-- name: listWorkflows
SELECT * FROM workflows
WHERE (@name IS NULL OR name = @name)
  AND (@status IS NULL OR status = @status)
  AND (@beforeCreated IS NULL OR (created_at, id) < (@beforeCreated, @beforeId))
ORDER BY created_at DESC, id DESC
LIMIT @limit;

-- name: listWorkflowsByKey
-- Its own query so that the workflows_by_key index serves it.
SELECT * FROM workflows
WHERE business_key = @key
  AND (@name IS NULL OR name = @name)
  AND (@status IS NULL OR status = @status)
  AND (@beforeCreated IS NULL OR (created_at, id) < (@beforeCreated, @beforeId))
ORDER BY created_at DESC, id DESC
LIMIT @limit;

-- name: countWorkflows
SELECT status, COUNT(*) AS n FROM workflows
WHERE (@name IS NULL OR name = @name)
GROUP BY status;

-- name: countWorkflowsByKey
-- Its own query so that the workflows_by_key index serves it.
SELECT status, COUNT(*) AS n FROM workflows
WHERE business_key = @key
  AND (@name IS NULL OR name = @name)
GROUP BY status;

-- name: expiredWorkflows
SELECT id FROM workflows WHERE expires_at <= ? LIMIT ?;

-- name: deleteLeasesOfWorkflow
DELETE FROM leases WHERE step_pk IN (SELECT pk FROM steps WHERE workflow_id = ?);

-- name: deleteBatchesOfWorkflow
DELETE FROM task_batches WHERE step_pk IN (SELECT pk FROM steps WHERE workflow_id = ?);

-- name: deleteEdgesOfWorkflow
DELETE FROM step_edges WHERE child_pk IN (SELECT pk FROM steps WHERE workflow_id = ?);

-- name: deleteStepsOfWorkflow
DELETE FROM steps WHERE workflow_id = ?;

-- name: deleteWorkflow
DELETE FROM workflows WHERE id = ?;

-- name: reopenWorkflow
-- A retry: running again, its outcome and removal deadline cleared.
UPDATE workflows
SET status = 'running', error = NULL, finished_at = NULL, expires_at = NULL,
    open_steps = open_steps + @opened, retries = retries + 1
WHERE id = @id
RETURNING retries;
-- Run control (docs/backends/step-machine.md#run-control).

-- name: setWorkflowStatus
UPDATE workflows SET status = @status WHERE id = @id;

-- name: cancelWorkflow
UPDATE workflows
SET status = 'cancelled', error = @error, finished_at = @now, expires_at = @expiresAt
WHERE id = @id;

-- name: runningStepsOfWorkflow
SELECT pk, id FROM steps WHERE workflow_id = ? AND status = 'running' ORDER BY pk;
