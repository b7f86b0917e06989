-- Rate limits (migration 0010; the claim applies them, functions/04_claims.sql rate_gate).

-- name: setRateLimit
-- ($1 name, $2 max, $3 per_ms)
INSERT INTO rate_limits (name, max, per_ms, updated_at) VALUES ($1, $2, $3, now())
ON CONFLICT (name) DO UPDATE SET max = excluded.max, per_ms = excluded.per_ms, updated_at = now();

-- name: rateLimits
SELECT name, max, per_ms::float8 AS per_ms FROM rate_limits ORDER BY name COLLATE "C";

-- name: removeRateLimit
-- ($1 name) Its log of starts goes with it.
WITH removed AS (DELETE FROM rate_limits WHERE name = $1 RETURNING name),
     starts AS (DELETE FROM rate_starts WHERE name = $1 AND EXISTS (SELECT 1 FROM removed)),
     bucket_starts AS (DELETE FROM rate_bucket_starts WHERE name = $1 AND EXISTS (SELECT 1 FROM removed))
SELECT EXISTS (SELECT 1 FROM removed) AS removed;
