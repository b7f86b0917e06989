-- deflow PostgreSQL schema, version 11: named queues (docs/concepts.md#queues, the claim rule
-- of docs/backends/step-machine.md). A step's queue is derived from its stored options, so no
-- write path changes and steps stored before queues read as 'default'; running steps are
-- indexed by queue, so a node finds its queues' work without reading the others' backlog.
ALTER TABLE steps ADD COLUMN queue text GENERATED ALWAYS AS (
  CASE WHEN jsonb_typeof(options->'queue') = 'string' THEN options->>'queue' ELSE 'default' END
) STORED;
CREATE INDEX steps_running_by_queue ON steps (queue, pk) WHERE status = 'running';

-- The queues a node serves, for `GET /api/nodes` and `deflow show`.
ALTER TABLE nodes ADD COLUMN queues jsonb NOT NULL DEFAULT '["default"]';
