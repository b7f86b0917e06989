-- deflow embedded schema, version 4: concurrency limits (step options globalConcurrency,
-- concurrencyKey + keyConcurrency). A limited step's tasks are leased alone (status 1), so what
-- is in flight is counted from the job rows: per step through jobs_leased_ids, per bucket
-- through jobs_bucket_leased. Plain steps keep their range leases and never read these.
ALTER TABLE steps ADD COLUMN global_limit INTEGER;
ALTER TABLE steps ADD COLUMN key_limit INTEGER;
ALTER TABLE jobs ADD COLUMN bucket TEXT;
CREATE INDEX jobs_leased_ids ON jobs (id) WHERE status = 1;
CREATE INDEX jobs_bucket_leased ON jobs (bucket) WHERE status = 1 AND bucket IS NOT NULL;
