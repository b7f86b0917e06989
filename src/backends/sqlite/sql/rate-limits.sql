-- Rate limits: at most `max` task starts in any window of `per_ms` (see migration 0009).

-- name: setRateLimit
INSERT INTO rate_limits (name, max, per_ms, updated_at) VALUES (@name, @max, @perMs, @now)
ON CONFLICT (name) DO UPDATE SET max = @max, per_ms = @perMs, updated_at = @now;

-- name: listRateLimits
SELECT name, max, per_ms FROM rate_limits ORDER BY name;

-- name: deleteRateLimit
DELETE FROM rate_limits WHERE name = ? RETURNING name;

-- name: deleteRateStarts
DELETE FROM rate_starts WHERE name = ?;

-- name: rateLimitByName
SELECT max, per_ms FROM rate_limits WHERE name = ?;

-- name: pruneRateStarts
-- Starts that left the window count no more.
DELETE FROM rate_starts WHERE name = @name AND at <= @since;

-- name: rateWindow
-- Starts in the window and the oldest of them.
SELECT coalesce(sum(n), 0) AS used, min(at) AS oldest FROM rate_starts WHERE name = @name AND at > @since;

-- name: logRateStarts
INSERT INTO rate_starts (name, at, n) VALUES (?, ?, ?);

-- name: nextRateStart
-- Earliest time a rate limit that holds back a running step allows a start again.
SELECT min(next) AS next FROM (
  SELECT min(r.at) + l.per_ms AS next
  FROM rate_limits l JOIN rate_starts r ON r.name = l.name AND r.at > @now - l.per_ms
  WHERE l.name IN (SELECT rate_limit FROM steps WHERE status = 'running' AND stage = 'tasks' AND rate_limit IS NOT NULL AND rate_key IS NULL)
  GROUP BY l.name
  HAVING sum(r.n) >= l.max
);

-- Keyed rate limits (migration 0011): each bucket logs its own starts.

-- name: deleteRateBucketStarts
DELETE FROM rate_bucket_starts WHERE name = ?;

-- name: pruneRateBucketStarts
DELETE FROM rate_bucket_starts WHERE bucket = @bucket AND at <= @since;

-- name: rateBucketWindow
SELECT coalesce(sum(n), 0) AS used, min(at) AS oldest FROM rate_bucket_starts WHERE bucket = @bucket AND at > @since;

-- name: logRateBucketStarts
INSERT INTO rate_bucket_starts (name, bucket, at, n) VALUES (?, ?, ?, ?);
