-- deflow PostgreSQL schema: keyed rate limits (step option rateLimit: { name, key }; the
-- rate-limit rule of docs/backends/step-machine.md). Each task of such a step carries its rate
-- bucket (`[<limit name>, <key value>]`, computed by the engine when the task is stored), and
-- each bucket logs its own starts (at the database's clock, under the bucket's advisory lock),
-- held to the named limit's max per per_ms.
ALTER TABLE jobs ADD COLUMN rate_bucket text;
CREATE TABLE rate_bucket_starts (
  name   text NOT NULL,    -- the limit (so removing it forgets its buckets)
  bucket text NOT NULL,
  at     bigint NOT NULL,  -- epoch ms
  n      integer NOT NULL
);
CREATE INDEX rate_bucket_starts_by_bucket ON rate_bucket_starts (bucket, at);
CREATE INDEX rate_bucket_starts_by_name ON rate_bucket_starts (name);
