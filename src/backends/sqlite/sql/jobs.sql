-- Queries on jobs (tasks and hook jobs) and range leases.
-- Job ids: step_pk * 67108864 (2^26) + slot; slot 0 = beforeAll, 1.. = task seq, 67108863 = afterAll.
-- Status: 0 fresh, 1 leased alone, 2 succeeded, 3 failed, 4 ready again.
-- Fencing: a job leased in a range carries token -<lease id>; its outcome is accepted while that
-- lease exists and its bit in leases.settled is clear. A job leased alone carries its token and
-- must still be leased (status 1).

-- name: insertJob
INSERT INTO jobs (id, data) VALUES (?, ?);

-- name: insertJobs64
-- 64 jobs per call: far fewer calls into SQLite when a step is created with many tasks.
INSERT INTO jobs (id, data) VALUES
(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),
(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),
(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),
(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?),(?,?);

-- name: delayJobs
-- Tasks added with a delay (addTasks { delay }): ready again at @runAt, like a task waiting for
-- its retry delay, so no range lease of fresh tasks hands them out (ranges take status 0 only).
UPDATE jobs SET status = 4, run_at = @runAt WHERE id BETWEEN @lo AND @hi AND status = 0;

-- name: skipDelayedJobs
-- The cursor moves over delayed tasks appended right at it: no fresh task is left to claim there.
UPDATE steps SET fresh_cursor = next_seq WHERE pk = @pk AND fresh_cursor = @cursor;

-- name: claimHook
UPDATE jobs SET status = 1, owner = @owner, token = token + 1
WHERE id = @id AND status IN (0, 4) AND run_at <= @now
RETURNING id, data, failed_count, token, lost_count;

-- name: claimRequeued
-- Jobs back in the queue (retried, handed back, recovered) are leased one by one.
UPDATE jobs SET status = 1, owner = @owner, token = token + 1
WHERE id IN (
  SELECT id FROM jobs WHERE status = 4 AND id BETWEEN @lo AND @hi AND run_at <= @now ORDER BY id LIMIT @limit
)
RETURNING id, data, failed_count, token, lost_count;

-- Claims of limited steps (globalConcurrency, keyConcurrency): tasks leased alone, so what is
-- in flight is counted from job rows. Plain steps never run these.

-- name: setBucket
UPDATE jobs SET bucket = ? WHERE id = ?;

-- name: leasedInRange
SELECT count(*) AS n FROM jobs WHERE status = 1 AND id BETWEEN ? AND ?;

-- name: leasedInBucket
SELECT count(*) AS n FROM jobs WHERE status = 1 AND bucket = ?;

-- name: setRateBucket
UPDATE jobs SET rate_bucket = ? WHERE id = ?;

-- name: requeuedCandidates
SELECT id, bucket, rate_bucket FROM jobs WHERE status = 4 AND id BETWEEN @lo AND @hi AND run_at <= @now ORDER BY id LIMIT @scan;

-- name: freshCandidates
SELECT id, bucket, rate_bucket FROM jobs WHERE status = 0 AND id BETWEEN @lo AND @hi ORDER BY id LIMIT @scan;

-- name: leaseAlone
UPDATE jobs SET status = 1, owner = @owner, token = token + 1
WHERE id = @id AND status IN (0, 4)
RETURNING id, data, failed_count, token, lost_count;

-- name: freshRange
SELECT id, data FROM jobs WHERE id BETWEEN ? AND ? AND status = 0;

-- name: insertLease
INSERT INTO leases (owner, step_pk, lo, hi, settled) VALUES (?, ?, ?, ?, ?);

-- name: leaseById
SELECT id, owner, step_pk, lo, hi, settled FROM leases WHERE id = ?;

-- name: setLeaseSettled
UPDATE leases SET settled = ? WHERE id = ?;

-- name: insertRangeResults
INSERT INTO range_results (step_pk, lo, hi, ids, results, finished_at) VALUES (?, ?, ?, ?, ?, ?);

-- name: rangeResultsNear
-- Batches that may hold results for job ids in [@from, @to]: a batch lies within one lease,
-- and a lease spans at most 4096 ids.
SELECT ids, results, finished_at FROM range_results
WHERE step_pk = @stepPk AND lo BETWEEN @from - 4096 AND @to AND hi >= @from;

-- name: advanceCursor
UPDATE steps SET fresh_cursor = ? WHERE pk = ?;

-- Outcome statements come in pairs: "Fresh" for jobs leased in a range (token 0), "Leased"
-- for jobs leased alone (their token). Positional parameters: this is the hot path.

-- name: succeedFresh
-- (result, error, finished_at, id)
UPDATE jobs SET status = 2, result = ?, error = ?, finished_at = ? WHERE id = ? AND status = 0;

-- name: succeedLeased
-- (result, error, finished_at, id, token)
UPDATE jobs SET status = 2, result = ?, error = ?, finished_at = ?, owner = NULL WHERE id = ? AND status = 1 AND token = ?;

-- name: failFresh
-- (error, finished_at, id)
UPDATE jobs SET status = 3, error = ?, failed_count = failed_count + 1, finished_at = ? WHERE id = ? AND status = 0;

-- name: failLeased
-- (error, finished_at, id, token)
UPDATE jobs SET status = 3, error = ?, failed_count = failed_count + 1, finished_at = ?, owner = NULL
WHERE id = ? AND status = 1 AND token = ?;

-- name: retryFresh
-- (error, run_at, id)
UPDATE jobs SET status = 4, error = ?, failed_count = failed_count + 1, run_at = ? WHERE id = ? AND status = 0;

-- name: retryLeased
-- (error, run_at, id, token)
UPDATE jobs SET status = 4, error = ?, failed_count = failed_count + 1, run_at = ?, owner = NULL
WHERE id = ? AND status = 1 AND token = ?;

-- Node losses (the node-loss rule): counted in lost_count, never in failed_count. "Again":
-- ready again (after the retry delay); "ForGood": failed for good (lost maxNodeLosses times).

-- name: loseFreshAgain
-- (error, run_at, id)
UPDATE jobs SET status = 4, error = ?, lost_count = lost_count + 1, run_at = ? WHERE id = ? AND status = 0;

-- name: loseFreshForGood
-- (error, finished_at, id)
UPDATE jobs SET status = 3, error = ?, lost_count = lost_count + 1, finished_at = ? WHERE id = ? AND status = 0;

-- name: loseLeasedAgain
-- (error, run_at, id, token)
UPDATE jobs SET status = 4, error = ?, lost_count = lost_count + 1, run_at = ?, owner = NULL
WHERE id = ? AND status = 1 AND token = ?;

-- name: loseLeasedForGood
-- (error, finished_at, id, token)
UPDATE jobs SET status = 3, error = ?, lost_count = lost_count + 1, finished_at = ?, owner = NULL
WHERE id = ? AND status = 1 AND token = ?;

-- name: releaseJob
-- Hands a claimed, never-started job back; no attempt is counted.
UPDATE jobs SET status = 4, owner = NULL, run_at = 0
WHERE id = @id AND ((@token = 0 AND status = 0) OR (@token > 0 AND status = 1 AND token = @token));

-- name: releaseLeasedAloneBy
UPDATE jobs SET status = 4, owner = NULL, run_at = 0 WHERE owner = ? AND status = 1;

-- name: leasedAloneBy
SELECT id, token FROM jobs WHERE owner = ? AND status = 1;

-- name: rangesOf
SELECT id, step_pk, lo, hi, settled FROM leases WHERE owner = ?;

-- name: deleteLease
DELETE FROM leases WHERE id = ?;

-- name: deleteLeasesOfStep
DELETE FROM leases WHERE step_pk = ?;

-- name: hookJob
SELECT status, error FROM jobs WHERE id = ?;

-- name: nextRunAt
-- Earliest delayed retry still waiting (only delayed jobs have run_at > 0).
SELECT MIN(run_at) AS next FROM jobs WHERE status = 4 AND run_at > 0 AND run_at > ?;

-- name: tasksPage
SELECT id, data, status, failed_count, result, error, finished_at, lost_count FROM jobs
WHERE id > @lo AND id < @hi
ORDER BY id
LIMIT @limit;

-- name: orphanedAlone
-- Jobs leased alone whose owner is no longer a registered node.
SELECT id, token, lost_count FROM jobs
WHERE status = 1 AND (owner IS NULL OR owner NOT IN (SELECT pk FROM nodes))
LIMIT ?;

-- name: orphanedRanges
SELECT id, step_pk, lo, hi, settled FROM leases WHERE owner NOT IN (SELECT pk FROM nodes) LIMIT ?;

-- name: deleteJobsOfStep
DELETE FROM jobs WHERE id BETWEEN ? AND ?;

-- name: deleteRangeResultsOfStep
DELETE FROM range_results WHERE step_pk = ?;

-- Retry (the retry transition). Fresh attempts: failed_count and lost_count start over.

-- name: resetJobsFresh
-- (lo, hi): every job of a step, from scratch.
UPDATE jobs SET status = 0, failed_count = 0, lost_count = 0, owner = NULL, run_at = 0,
    result = NULL, error = NULL, finished_at = NULL
WHERE id BETWEEN ? AND ?;

-- name: requeueUnfinishedJobs
-- (lo, hi): jobs of a step that did not succeed (failed, waiting for a retry, or still marked
-- leased) are ready again at once, their attempts counted from zero.
UPDATE jobs SET status = 4, failed_count = 0, lost_count = 0, owner = NULL, run_at = 0,
    error = NULL, finished_at = NULL
WHERE id BETWEEN ? AND ? AND status IN (1, 3, 4);

-- name: resetJob
-- (id): one job from scratch (a resumed step's afterAll runs again after its tasks).
UPDATE jobs SET status = 0, failed_count = 0, lost_count = 0, owner = NULL, run_at = 0,
    result = NULL, error = NULL, finished_at = NULL
WHERE id = ?;
-- name: releaseLeasedAloneOfStep
-- A cancelled workflow's leased jobs go back to the queue (their holders' outcomes are stale).
UPDATE jobs SET status = 4, owner = NULL, run_at = 0 WHERE status = 1 AND id BETWEEN ? AND ?;

-- name: rangesOfStep
SELECT id, owner, step_pk, lo, hi, settled FROM leases WHERE step_pk = ?;
