-- deflow embedded schema: named queues (docs/concepts.md#queues, the claim rule of
-- docs/backends/step-machine.md). A step's queue is read from its stored options, so no write
-- path changes and steps stored before queues read as 'default'; running steps are indexed by
-- queue, so a node finds its queues' work without reading the others' backlog.
ALTER TABLE steps ADD COLUMN queue TEXT GENERATED ALWAYS AS (
  CASE WHEN json_valid(options) AND json_type(options, '$.queue') = 'text' THEN json_extract(options, '$.queue') ELSE 'default' END
) VIRTUAL;
CREATE INDEX steps_running_by_queue ON steps (queue, pk) WHERE status = 'running';

-- The queues a node serves (JSON string[]), for `GET /api/nodes` and `deflow show`.
ALTER TABLE nodes ADD COLUMN queues TEXT NOT NULL DEFAULT '["default"]';
