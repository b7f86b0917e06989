-- deflow PostgreSQL schema, version 4: retry (docs/backends/step-machine.md, the retry transition).
-- How many times a workflow was retried: a handle that saw an outcome knows a newer one is coming.
ALTER TABLE workflows ADD COLUMN retries integer NOT NULL DEFAULT 0;
