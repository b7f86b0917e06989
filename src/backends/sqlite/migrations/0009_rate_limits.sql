-- deflow embedded schema, version 9: rate limits and priorities (docs/concepts.md#rate-limits,
-- docs/backends/step-machine.md, the claim rule).
--
-- A rate limit allows at most `max` task starts in any window of `per_ms` milliseconds. Its
-- starts are logged per claim (at, n): a claim may start as many as the starts logged after
-- now - per_ms leave room for, and when none is left, the next start is allowed once the
-- oldest entry in the window leaves it.
CREATE TABLE rate_limits (
  name       TEXT PRIMARY KEY,
  max        INTEGER NOT NULL,
  per_ms     INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE rate_starts (
  name TEXT NOT NULL,
  at   INTEGER NOT NULL,  -- claim time (the backend's clock)
  n    INTEGER NOT NULL   -- tasks that claim started
);
CREATE INDEX rate_starts_by_name ON rate_starts (name, at);

-- Read from the stored options, so no write path changes and older steps read as none / 0.
-- Options that are not JSON (a corrupt record) read as none / 0 here; the step fails elsewhere.
ALTER TABLE steps ADD COLUMN rate_limit TEXT GENERATED ALWAYS AS (
  CASE WHEN json_valid(options) AND json_type(options, '$.rateLimit') = 'text' THEN json_extract(options, '$.rateLimit') END
) VIRTUAL;
ALTER TABLE steps ADD COLUMN priority INTEGER GENERATED ALWAYS AS (
  CASE WHEN json_valid(options) AND json_type(options, '$.priority') = 'integer' THEN json_extract(options, '$.priority') ELSE 0 END
) VIRTUAL;
