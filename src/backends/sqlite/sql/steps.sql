-- Queries on steps and their dependency edges.

-- name: insertStep
INSERT INTO steps (
  workflow_id, id, name, handler, data, options, max_attempts, retry_delay, deps,
  anchor_pk, anchor_phase, anchor_seq, parent_id, decl_index, status, stage,
  has_before, has_after, total, next_seq, delay_ms, start_at, wait_for, wait_timeout, global_limit, key_limit
) VALUES (
  @workflowId, @id, @name, @handler, @data, @options, @maxAttempts, @retryDelay, @deps,
  @anchorPk, @anchorPhase, @anchorSeq, @parentId, @declIndex, 'waiting', 'before',
  @hasBefore, @hasAfter, 0, 0, @delayMs, @startAt, @waitFor, @waitTimeout, @globalLimit, @keyLimit
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

-- name: setReadyAt
-- A step with a timer whose turn came: it starts at this time (docs/backends/step-machine.md).
UPDATE steps SET ready_at = @readyAt WHERE pk = @pk;

-- name: dueTimers
-- Waiting steps whose time came (only steps with a timer have ready_at), of workflows that may
-- start steps: a paused one's wait for its resume (a cancelled one has none, the cancel drops them).
SELECT s.pk FROM steps s JOIN workflows w ON w.id = s.workflow_id
WHERE s.status = 'waiting' AND s.ready_at IS NOT NULL AND s.ready_at <= @now AND w.status IN ('pending', 'running')
ORDER BY s.ready_at, s.pk
LIMIT @limit;

-- name: nextTimerAt
-- Earliest timer still waiting (one already due, left by a full round, makes nodes look at once);
-- a paused workflow's do not count until its resume.
SELECT (
  SELECT s.ready_at FROM steps s JOIN workflows w ON w.id = s.workflow_id
  WHERE s.status = 'waiting' AND s.ready_at IS NOT NULL AND w.status IN ('pending', 'running')
  ORDER BY s.ready_at
  LIMIT 1
) AS next;

-- name: dropTimersOfWorkflow
-- Run control's cancel (docs/backends/step-machine.md#run-control) on the workflow's timers.
UPDATE steps SET ready_at = NULL WHERE workflow_id = ? AND status = 'waiting' AND ready_at IS NOT NULL;

-- name: timersOfWorkflow
-- The waiting steps of a workflow that have a due time, earliest first (resume starts the due ones).
SELECT pk, ready_at FROM steps WHERE workflow_id = ? AND status = 'waiting' AND ready_at IS NOT NULL
ORDER BY ready_at, pk;

-- name: startStep
UPDATE steps SET status = 'running', stage = 'before', started_at = @now, wait_since = NULL, wait_due = NULL WHERE pk = @pk;

-- name: setRunIndex
-- Execution order is counted when a step's tasks begin (after beforeAll and the steps it added).
UPDATE steps SET run_index = ? WHERE pk = ?;

-- name: finishStep
UPDATE steps SET status = @status, stage = 'done', failed_stage = @failedStage, error = @error, finished_at = @now,
  wait_since = NULL, wait_due = NULL
WHERE pk = @pk;

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
SELECT pk, status FROM steps WHERE anchor_pk = ? AND anchor_phase = ? ORDER BY anchor_seq;

-- name: waitingChildrenOf
SELECT pk FROM steps WHERE anchor_pk = ? AND status = 'waiting' ORDER BY anchor_seq;

-- name: dependentsOf
SELECT child_pk FROM step_edges WHERE parent_pk = ?;

-- name: parentsOf
SELECT e.on_cond, s.status FROM step_edges e JOIN steps s ON s.pk = e.parent_pk WHERE e.child_pk = ?;

-- name: runnableSteps
-- Running steps whose current stage has a claimable job, highest priority first, then oldest
-- workflow first (paused and cancelled workflows have none). A step whose rate limit has no
-- room now is left out (nextRateStart says when).
-- @queues (a JSON array): only steps of those queues, read through steps_running_by_queue, so
-- a node never reads another queue's backlog. runnableStepsAnyQueue (statements.ts) is this
-- query without the line marked @queue-filter, for every queue.
-- (67108864 = 2^26: job ids are step_pk * 2^26 + slot, see jobs.sql.)
SELECT s.*, w.name AS workflow_name FROM steps s
JOIN workflows w ON w.id = s.workflow_id
WHERE s.status = 'running'
AND s.queue IN (SELECT value FROM json_each(@queues)) -- @queue-filter
AND w.status IN ('pending', 'running') AND (
  (s.stage = 'tasks' AND (
    s.rate_limit IS NULL OR s.rate_key IS NOT NULL OR NOT EXISTS (
      SELECT 1 FROM rate_limits l WHERE l.name = s.rate_limit
        AND l.max <= (SELECT coalesce(sum(r.n), 0) FROM rate_starts r WHERE r.name = l.name AND r.at > @now - l.per_ms)
    )
  ) AND (
    s.fresh_cursor < s.next_seq
    OR EXISTS (
      SELECT 1 FROM jobs j
      WHERE j.status = 4 AND j.id BETWEEN s.pk * 67108864 + 1 AND s.pk * 67108864 + 67108862 AND j.run_at <= @now
    )
  ))
  OR (s.stage = 'before' AND EXISTS (
    SELECT 1 FROM jobs j WHERE j.id = s.pk * 67108864 AND j.status IN (0, 4) AND j.run_at <= @now
  ))
  OR (s.stage = 'after' AND EXISTS (
    SELECT 1 FROM jobs j WHERE j.id = s.pk * 67108864 + 67108863 AND j.status IN (0, 4) AND j.run_at <= @now
  ))
)
ORDER BY s.priority DESC, w.created_at, s.run_index
LIMIT @limit;

-- name: stepPksOfWorkflow
SELECT pk FROM steps WHERE workflow_id = ?;

-- name: batchApplied
INSERT OR IGNORE INTO task_batches (step_pk, batch_key) VALUES (?, ?);

-- name: resetStepFresh
-- A retry runs the step again from scratch: waiting, no counts, no outcome.
UPDATE steps
SET status = 'waiting', stage = 'before', failed_stage = NULL, error = NULL, failing = NULL,
    done = 0, failed = 0, fresh_cursor = 0, run_index = NULL, started_at = NULL, finished_at = NULL
WHERE pk = ?;

-- name: resumeStep
-- A retry takes a failed step up again at the stage it failed in; its failed jobs were reset.
UPDATE steps
SET status = 'running', stage = @stage, failed_stage = NULL, error = NULL, failing = NULL,
    failed = 0, finished_at = NULL
WHERE pk = @pk;

-- name: allChildrenOf
SELECT pk, status FROM steps WHERE anchor_pk = ? ORDER BY anchor_seq;

-- name: queueCounts
-- Ready and leased jobs per queue of running steps (metrics). Ready: fresh tasks past the range
-- cursor, and jobs ready again whose retry delay passed; hooks count as they stand. Leased: jobs
-- leased alone, and range leases counted whole (their settled jobs included: an upper bound).
SELECT s.queue AS queue,
  sum(CASE WHEN s.stage = 'tasks' THEN s.next_seq - s.fresh_cursor ELSE 0 END)
    + sum((SELECT count(*) FROM jobs j WHERE j.id BETWEEN s.pk * 67108864 AND s.pk * 67108864 + 67108863
             AND (j.status = 4 OR (j.status = 0 AND j.id = CASE s.stage WHEN 'before' THEN s.pk * 67108864 WHEN 'after' THEN s.pk * 67108864 + 67108863 END))
             AND j.run_at <= @now)) AS ready,
  sum((SELECT count(*) FROM jobs j WHERE j.id BETWEEN s.pk * 67108864 AND s.pk * 67108864 + 67108863 AND j.status = 1))
    + sum((SELECT coalesce(sum(l.hi - l.lo + 1), 0) FROM leases l WHERE l.step_pk = s.pk)) AS leased
FROM steps s
WHERE s.status = 'running'
GROUP BY s.queue;
