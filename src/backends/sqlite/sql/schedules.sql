-- Schedules (migration 0013).

-- name: saveSchedule
-- The last tick is kept: a schedule saved again does not fire the ticks it already fired.
INSERT INTO schedules (name, cron, timezone, workflow, input, overlap, catch_up, saved_at)
VALUES (@name, @cron, @timezone, @workflow, @input, @overlap, @catchUp, @now)
ON CONFLICT (name) DO UPDATE SET cron = @cron, timezone = @timezone, workflow = @workflow, input = @input,
  overlap = @overlap, catch_up = @catchUp, saved_at = @now;

-- name: scheduleExists
SELECT 1 AS found FROM schedules WHERE name = ?;

-- name: listSchedules
SELECT name, cron, timezone, workflow, input, overlap, catch_up, saved_at, last_tick, last_workflow_id FROM schedules ORDER BY name;

-- name: deleteSchedule
DELETE FROM schedules WHERE name = ? RETURNING name;

-- name: claimScheduleTick
-- Ticks only move forward; a null workflow id (a skipped tick) keeps the last one.
UPDATE schedules SET last_tick = @tick, last_workflow_id = coalesce(@workflowId, last_workflow_id)
WHERE name = @name AND (last_tick IS NULL OR last_tick < @tick) RETURNING name;
