-- deflow PostgreSQL schema, version 4: events and signals (docs/backends/step-machine.md,
-- receive). A step with waitFor is held back by its events beside its dependencies; the events
-- a workflow received are kept for it (durable: one that came first waits for the step).
ALTER TABLE steps ADD COLUMN wait_for jsonb;       -- string[] of event names; NULL: waits for none
ALTER TABLE steps ADD COLUMN wait_timeout integer; -- ms it waits once its dependencies are done; NULL: forever
ALTER TABLE steps ADD COLUMN wait_since timestamptz; -- set while only its events hold it back
ALTER TABLE steps ADD COLUMN wait_due timestamptz;   -- wait_since + wait_timeout (own column: timers have theirs)
CREATE INDEX steps_wait_due ON steps (wait_due) WHERE wait_due IS NOT NULL;
CREATE INDEX steps_awaiting ON steps (workflow_id) WHERE wait_since IS NOT NULL;

CREATE TABLE workflow_events (
  seq         bigserial PRIMARY KEY,             -- arrival order
  workflow_id text NOT NULL,
  id          text NOT NULL,                     -- unique per workflow: a duplicate counts once
  name        text NOT NULL,
  data        text NOT NULL,                     -- JSON
  at          timestamptz NOT NULL,
  UNIQUE (workflow_id, id)
);
CREATE INDEX workflow_events_by_name ON workflow_events (workflow_id, name);

-- Global events go to every workflow that has not finished.
CREATE INDEX workflows_open ON workflows (id) WHERE status IN ('pending', 'running');
