-- Schedules (migration 0013). Times are epoch ms on the database's clock.

-- name: saveSchedule
-- ($1 name, $2 cron, $3 timezone, $4 workflow, $5 input, $6 overlap, $7 catch_up) The last tick
-- is kept: a schedule saved again does not fire the ticks it already fired. xmax = 0 on a row
-- the statement inserted.
INSERT INTO schedules AS s (name, cron, timezone, workflow, input, overlap, catch_up, saved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, floor(epoch_ms(clock_timestamp())))
ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone, workflow = excluded.workflow,
  input = excluded.input, overlap = excluded.overlap, catch_up = excluded.catch_up, saved_at = excluded.saved_at
RETURNING (s.xmax = 0) AS created;

-- name: listSchedules
SELECT name, cron, timezone, workflow, input, overlap, catch_up, saved_at::float8 AS saved_at,
       last_tick::float8 AS last_tick, last_workflow_id
FROM schedules ORDER BY name COLLATE "C";

-- name: removeSchedule
-- ($1 name)
WITH removed AS (DELETE FROM schedules WHERE name = $1 RETURNING name)
SELECT EXISTS (SELECT 1 FROM removed) AS removed;

-- name: claimScheduleTick
-- ($1 name, $2 tick, $3 workflow id or null) Ticks only move forward; a null workflow id (a
-- skipped tick) keeps the last one. The row lock orders racing claims.
UPDATE schedules SET last_tick = $2, last_workflow_id = coalesce($3, last_workflow_id)
WHERE name = $1 AND (last_tick IS NULL OR last_tick < $2)
RETURNING name;
