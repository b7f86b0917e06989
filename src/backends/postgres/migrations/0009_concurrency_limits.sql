-- deflow PostgreSQL schema, version 4: concurrency limits (step options globalConcurrency,
-- concurrencyKey + keyConcurrency; docs/backends/step-machine.md, the claim rule). A limited
-- step's tasks are leased alone, so what is in flight is counted from job rows: per step through
-- jobs_leased_by_step, per bucket through jobs_bucket_leased. Plain steps never read them.
ALTER TABLE steps ADD COLUMN global_limit integer;
ALTER TABLE steps ADD COLUMN key_limit integer;
ALTER TABLE jobs ADD COLUMN bucket text;
CREATE INDEX jobs_leased_by_step ON jobs (step_pk) WHERE status = 'leased';
CREATE INDEX jobs_bucket_leased ON jobs (bucket) WHERE status = 'leased' AND bucket IS NOT NULL;
