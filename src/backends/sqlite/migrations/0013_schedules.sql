-- deflow embedded schema, version 11: cron schedules (docs/concepts.md#schedules). A schedule
-- starts a workflow definition on each tick of its cron; `last_tick` (epoch ms) only moves
-- forward, so one tick is recorded once whichever node races (claimScheduleTick).
CREATE TABLE schedules (
  name             TEXT PRIMARY KEY,
  cron             TEXT NOT NULL,
  timezone         TEXT,
  workflow         TEXT NOT NULL,
  input            TEXT NOT NULL,
  overlap          TEXT NOT NULL,
  catch_up         TEXT NOT NULL,
  saved_at         INTEGER NOT NULL,
  last_tick        INTEGER,
  last_workflow_id TEXT
);
