-- deflow PostgreSQL schema, version 11: cron schedules (docs/concepts.md#schedules). A schedule
-- starts a workflow definition on each tick of its cron; `last_tick` (epoch ms) only moves
-- forward, so one tick is recorded once whichever node races (sql/schedules.sql).
CREATE TABLE schedules (
  name             text PRIMARY KEY,
  cron             text NOT NULL,
  timezone         text,
  workflow         text NOT NULL,
  input            text NOT NULL,
  overlap          text NOT NULL,
  catch_up         text NOT NULL,
  saved_at         bigint NOT NULL,
  last_tick        bigint,
  last_workflow_id text
);
