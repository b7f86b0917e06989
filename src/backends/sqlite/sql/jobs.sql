-- Queries on jobs (tasks and hook jobs). Status codes: 0 ready, 1 leased, 2 succeeded, 3 failed.
-- Kinds: 0 task, 1 beforeAll, 2 afterAll.

-- name: insertJob
INSERT INTO jobs (step_pk, kind, seq, data) VALUES (?, ?, ?, ?);

-- name: claimJobs
-- Leases the first @limit ready jobs of one kind of one step; the token fences the lease.
UPDATE jobs SET status = 1, owner = @owner, token = token + 1
WHERE id IN (
  SELECT id FROM jobs
  WHERE step_pk = @stepPk AND kind = @kind AND status = 0 AND run_at <= @now
  ORDER BY id
  LIMIT @limit
)
RETURNING id, kind, seq, data, failed_count, token;

-- name: succeedJob
UPDATE jobs SET status = 2, result = @result, error = @error, finished_at = @now, owner = NULL
WHERE id = @id AND token = @token AND status = 1
RETURNING step_pk, kind;

-- name: failJob
UPDATE jobs SET status = 3, error = @error, failed_count = failed_count + 1, finished_at = @now, owner = NULL
WHERE id = @id AND token = @token AND status = 1
RETURNING step_pk, kind;

-- name: retryJob
UPDATE jobs SET status = 0, error = @error, failed_count = failed_count + 1, run_at = @runAt, owner = NULL
WHERE id = @id AND token = @token AND status = 1
RETURNING step_pk, kind;

-- name: releaseJob
UPDATE jobs SET status = 0, owner = NULL WHERE id = @id AND token = @token AND status = 1;

-- name: releaseJobsOfOwner
UPDATE jobs SET status = 0, owner = NULL WHERE owner = ? AND status = 1;

-- name: leasedBy
SELECT j.id, j.token, s.workflow_id, s.id AS step_id FROM jobs j JOIN steps s ON s.pk = j.step_pk
WHERE j.owner = ? AND j.status = 1;

-- name: hookJob
SELECT status, error FROM jobs WHERE step_pk = ? AND kind = ? LIMIT 1;

-- name: nextRunAt
-- Earliest delayed retry still waiting (only delayed jobs have run_at > 0).
SELECT MIN(run_at) AS next FROM jobs WHERE status = 0 AND run_at > 0 AND run_at > ?;

-- name: tasksPage
SELECT id, seq, data, status, failed_count, result, error, finished_at FROM jobs
WHERE step_pk = @stepPk AND kind = 0 AND seq > @afterSeq
ORDER BY seq
LIMIT @limit;

-- name: orphanedLeases
-- Leased jobs whose owner is no longer a registered node.
SELECT j.id, j.step_pk, j.kind, j.seq, j.token, j.failed_count, s.max_attempts, s.retry_delay
FROM jobs j JOIN steps s ON s.pk = j.step_pk
WHERE j.status = 1 AND (j.owner IS NULL OR j.owner NOT IN (SELECT pk FROM nodes))
LIMIT ?;
