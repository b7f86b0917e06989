-- Queries on steps and their dependency edges.

-- name: insertStep
INSERT INTO steps (
  workflow_id, id, name, handler, data, options, max_attempts, retry_delay, deps,
  anchor_pk, anchor_phase, anchor_seq, parent_id, decl_index, status, stage,
  has_before, has_after, total, next_seq
) VALUES (
  @workflowId, @id, @name, @handler, @data, @options, @maxAttempts, @retryDelay, @deps,
  @anchorPk, @anchorPhase, @anchorSeq, @parentId, @declIndex, 'waiting', 'before',
  @hasBefore, @hasAfter, 0, 0
)
ON CONFLICT (workflow_id, id) DO NOTHING
RETURNING pk;

-- name: insertEdge
INSERT OR IGNORE INTO step_edges (parent_pk, child_pk, on_cond) VALUES (?, ?, ?);

-- name: stepByPk
SELECT * FROM steps WHERE pk = ?;

-- name: stepById
SELECT * FROM steps WHERE workflow_id = ? AND id = ?;

-- name: stepsOfWorkflow
-- Execution order first; steps that never started follow in declaration order.
SELECT * FROM steps WHERE workflow_id = ?
ORDER BY run_index IS NULL, run_index, decl_index;

-- name: nextDeclIndex
SELECT COALESCE(MAX(decl_index), -1) + 1 AS next FROM steps WHERE workflow_id = ?;

-- name: setStage
UPDATE steps SET stage = ? WHERE pk = ?;

-- name: startStep
UPDATE steps SET status = 'running', stage = 'before', run_index = @runIndex, started_at = @now WHERE pk = @pk;

-- name: finishStep
UPDATE steps SET status = @status, stage = 'done', error = @error, finished_at = @now WHERE pk = @pk;

-- name: addCounts
UPDATE steps
SET done = done + @done, failed = failed + @failed, failing = COALESCE(failing, @failing)
WHERE pk = @pk;

-- name: reserveTaskSeq
-- Hands out @n task positions; returns the last one.
UPDATE steps SET next_seq = next_seq + @n, total = total + @n WHERE pk = @pk RETURNING next_seq;

-- name: reserveChildSeq
UPDATE steps SET child_seq = child_seq + 1 WHERE pk = ? RETURNING child_seq;

-- name: childrenOf
SELECT pk, id, name, status, error FROM steps WHERE anchor_pk = ? AND anchor_phase = ? ORDER BY anchor_seq;

-- name: waitingChildrenOf
SELECT pk FROM steps WHERE anchor_pk = ? AND status = 'waiting' ORDER BY anchor_seq;

-- name: dependentsOf
SELECT child_pk FROM step_edges WHERE parent_pk = ?;

-- name: parentsOf
SELECT e.on_cond, s.status FROM step_edges e JOIN steps s ON s.pk = e.parent_pk WHERE e.child_pk = ?;

-- name: runnableSteps
-- Running steps whose current stage has a claimable job, oldest workflow first.
SELECT s.*, w.name AS workflow_name FROM steps s
JOIN workflows w ON w.id = s.workflow_id
WHERE s.status = 'running' AND s.stage IN ('before', 'tasks', 'after')
  AND EXISTS (
    SELECT 1 FROM jobs j
    WHERE j.step_pk = s.pk
      AND j.kind = CASE s.stage WHEN 'tasks' THEN 0 WHEN 'before' THEN 1 ELSE 2 END
      AND j.status = 0 AND j.run_at <= @now
  )
ORDER BY w.created_at, s.run_index
LIMIT @limit;

-- name: batchApplied
INSERT OR IGNORE INTO task_batches (step_pk, batch_key) VALUES (?, ?);
