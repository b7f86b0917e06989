-- deflow embedded schema: keyed rate limits (step option rateLimit: { name, key }; the
-- rate-limit rule of docs/backends/step-machine.md). Each task of such a step carries its rate
-- bucket (`[<limit name>, <key value>]`, computed by the engine when the task is stored), and
-- each bucket logs its own starts, held to the named limit's max per per_ms.
ALTER TABLE jobs ADD COLUMN rate_bucket TEXT;
ALTER TABLE steps ADD COLUMN rate_key TEXT GENERATED ALWAYS AS (
  CASE WHEN json_valid(options) AND json_type(options, '$.rateLimitKey') = 'text' THEN json_extract(options, '$.rateLimitKey') END
) VIRTUAL;
CREATE TABLE rate_bucket_starts (
  name   TEXT NOT NULL,     -- the limit (so removing it forgets its buckets)
  bucket TEXT NOT NULL,
  at     INTEGER NOT NULL,  -- claim time (the backend's clock)
  n      INTEGER NOT NULL
);
CREATE INDEX rate_bucket_starts_by_bucket ON rate_bucket_starts (bucket, at);
CREATE INDEX rate_bucket_starts_by_name ON rate_bucket_starts (name);
