-- deflow PostgreSQL schema, version 3: node losses counted apart from failed attempts
-- (docs/backends/step-machine.md, the node-loss rule). Jobs stored before it were never lost
-- under this rule (a loss then counted as a failed attempt).
ALTER TABLE jobs ADD COLUMN lost_count integer NOT NULL DEFAULT 0;
