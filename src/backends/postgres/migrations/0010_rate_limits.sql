-- deflow PostgreSQL schema, version 10: rate limits (docs/concepts.md#rate-limits, the claim
-- rule of docs/backends/step-machine.md). A rate limit allows at most `max` task starts in any
-- window of `per_ms` milliseconds. Its starts are logged per claim (at, n), at the database's
-- clock_timestamp() taken under the limit's row lock, so the log is in time order.
CREATE TABLE rate_limits (
  name       text PRIMARY KEY,
  max        integer NOT NULL,
  per_ms     bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE rate_starts (
  name text NOT NULL,
  at   bigint NOT NULL,  -- epoch ms
  n    integer NOT NULL
);
CREATE INDEX rate_starts_by_name ON rate_starts (name, at);
