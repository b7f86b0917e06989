-- deflow embedded schema, version 4: events and signals (docs/backends/step-machine.md,
-- receive). A step with waitFor is held back by its events beside its dependencies; the
-- events a workflow received are kept for it (durable: one that came first waits for the step).
ALTER TABLE steps ADD COLUMN wait_for TEXT;       -- JSON string[] of event names; NULL: waits for none
ALTER TABLE steps ADD COLUMN wait_timeout INTEGER; -- ms it waits once its dependencies are done; NULL: forever
ALTER TABLE steps ADD COLUMN wait_since INTEGER;   -- set while only its events hold it back
ALTER TABLE steps ADD COLUMN wait_due INTEGER;     -- wait_since + wait_timeout: it fails then (own column: timers have theirs)
CREATE INDEX steps_wait_due ON steps (wait_due) WHERE wait_due IS NOT NULL;
CREATE INDEX steps_awaiting ON steps (workflow_id) WHERE wait_since IS NOT NULL;

CREATE TABLE workflow_events (
  seq         INTEGER PRIMARY KEY,             -- arrival order
  workflow_id TEXT NOT NULL,
  id          TEXT NOT NULL,                   -- unique per workflow: a duplicate counts once
  name        TEXT NOT NULL,
  data        TEXT NOT NULL,                   -- JSON
  at          INTEGER NOT NULL,
  UNIQUE (workflow_id, id)
);
CREATE INDEX workflow_events_by_name ON workflow_events (workflow_id, name, seq);

-- Global events go to every workflow that has not finished.
CREATE INDEX workflows_open ON workflows (created_at) WHERE status IN ('pending', 'running');
