-- deflow embedded schema, version 1.
-- Append-only: never edit a released migration; add 0002_*.sql instead.

CREATE TABLE workflows (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  status          TEXT NOT NULL,             -- pending | running | succeeded | failed | cancelled
  options         TEXT NOT NULL,             -- JSON StoredWorkflowOptions
  error           TEXT,                      -- JSON SerializedError
  created_at      INTEGER NOT NULL,
  started_at      INTEGER,
  finished_at     INTEGER,
  expires_at      INTEGER,                   -- retention: removed after this instant
  open_steps      INTEGER NOT NULL DEFAULT 0, -- steps not yet terminal
  run_seq         INTEGER NOT NULL DEFAULT 0, -- last step run index handed out
  watch_next_task INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX workflows_by_created ON workflows (created_at DESC, id DESC);
CREATE INDEX workflows_by_name ON workflows (name, created_at DESC);
CREATE INDEX workflows_by_expiry ON workflows (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE steps (
  pk            INTEGER PRIMARY KEY,
  workflow_id   TEXT NOT NULL,
  id            TEXT NOT NULL,
  name          TEXT NOT NULL,
  handler       TEXT NOT NULL,               -- JSON HandlerRef
  data          TEXT NOT NULL,               -- JSON step data
  options       TEXT NOT NULL,               -- JSON ResolvedStepOptions
  max_attempts  INTEGER NOT NULL,
  retry_delay   INTEGER NOT NULL,
  deps          TEXT NOT NULL,               -- JSON StepDependency[] (edges are in step_edges)
  anchor_pk     INTEGER,                     -- addAfter: step this one runs after
  anchor_phase  TEXT,                        -- task | before | after
  anchor_seq    INTEGER,                     -- call order among the anchor's children
  parent_id     TEXT,
  decl_index    INTEGER NOT NULL,
  run_index     INTEGER,
  status        TEXT NOT NULL,               -- waiting | running | succeeded | failed | skipped
  stage         TEXT NOT NULL,               -- see StepStage
  has_before    INTEGER NOT NULL,
  has_after     INTEGER NOT NULL,
  failing       TEXT,                        -- JSON error: a task failed for good, the step will fail
  total         INTEGER NOT NULL DEFAULT 0,
  done          INTEGER NOT NULL DEFAULT 0,
  failed        INTEGER NOT NULL DEFAULT 0,
  next_seq      INTEGER NOT NULL DEFAULT 0,  -- last task seq handed out
  fresh_cursor  INTEGER NOT NULL DEFAULT 0,  -- last task seq leased in a range
  child_seq     INTEGER NOT NULL DEFAULT 0,  -- last anchor_seq handed out to added steps
  error         TEXT,
  started_at    INTEGER,
  finished_at   INTEGER,
  UNIQUE (workflow_id, id)
);
CREATE INDEX steps_running ON steps (pk) WHERE status = 'running';
CREATE INDEX steps_children ON steps (anchor_pk, anchor_phase, anchor_seq) WHERE anchor_pk IS NOT NULL;

-- Dependency edges, looked up from the parent when it finishes.
CREATE TABLE step_edges (
  parent_pk INTEGER NOT NULL,
  child_pk  INTEGER NOT NULL,
  on_cond   TEXT NOT NULL,                   -- success | failure | always
  PRIMARY KEY (parent_pk, child_pk)
) WITHOUT ROWID;
CREATE INDEX step_edges_child ON step_edges (child_pk);

-- Tasks and hook jobs. The id places a job in its step, so a step's tasks are one rowid
-- range in task order and need no secondary index:
--   id = step_pk * 2^26 + slot, slot 0 = beforeAll, 1.. = task seq, 2^26 - 1 = afterAll.
CREATE TABLE jobs (
  id            INTEGER PRIMARY KEY,
  data          TEXT NOT NULL,
  status        INTEGER NOT NULL DEFAULT 0,  -- 0 fresh | 1 leased alone | 2 succeeded | 3 failed | 4 ready again
  failed_count  INTEGER NOT NULL DEFAULT 0,
  token         INTEGER NOT NULL DEFAULT 0,  -- fencing token of a job leased alone, bumped on every claim
  owner         INTEGER,                     -- nodes.pk of the holder of a job leased alone
  run_at        INTEGER NOT NULL DEFAULT 0,  -- not claimable before (retry delay)
  result        TEXT,
  error         TEXT,
  finished_at   INTEGER
);
CREATE INDEX jobs_requeued ON jobs (id) WHERE status = 4;
CREATE INDEX jobs_leased ON jobs (owner) WHERE status = 1;
CREATE INDEX jobs_delayed ON jobs (run_at) WHERE status = 4 AND run_at > 0;

-- Fresh tasks are leased in ranges: one row per claimed batch instead of one write per task.
-- A fresh task (status 0) with seq <= steps.fresh_cursor belongs to exactly one range lease.
CREATE TABLE leases (
  id      INTEGER PRIMARY KEY,
  owner   INTEGER NOT NULL,                  -- nodes.pk
  step_pk INTEGER NOT NULL,
  lo      INTEGER NOT NULL,                  -- first job id of the range (spans at most 4096 ids)
  hi      INTEGER NOT NULL,                  -- last job id of the range
  settled BLOB NOT NULL                      -- a bit per job: its outcome was recorded through this lease,
                                             -- or it left the range (released); then nothing more is accepted for it
);
CREATE INDEX leases_by_owner ON leases (owner);
CREATE INDEX leases_by_step ON leases (step_pk);

-- Successes of fresh tasks, one row per completed batch of a lease instead of one update per
-- task: their job rows stay status 0 and read as succeeded through this table.
CREATE TABLE range_results (
  id          INTEGER PRIMARY KEY,
  step_pk     INTEGER NOT NULL,
  lo          INTEGER NOT NULL,              -- smallest job id of the batch
  hi          INTEGER NOT NULL,              -- largest job id of the batch
  ids         TEXT NOT NULL,                 -- JSON array of job ids
  results     TEXT NOT NULL,                 -- JSON array, per job: its result as JSON text, or null for none
  finished_at INTEGER NOT NULL
);
CREATE INDEX range_results_by_step ON range_results (step_pk, lo);

-- addTasks calls already applied (deterministic keys make retried hooks idempotent).
CREATE TABLE task_batches (
  step_pk   INTEGER NOT NULL,
  batch_key TEXT NOT NULL,
  PRIMARY KEY (step_pk, batch_key)
) WITHOUT ROWID;

CREATE TABLE nodes (
  pk               INTEGER PRIMARY KEY,
  id               TEXT NOT NULL UNIQUE,
  host             TEXT NOT NULL,
  pid              INTEGER NOT NULL,
  handlers         TEXT NOT NULL,            -- JSON string[]
  started_at       INTEGER NOT NULL,
  heartbeat_at     INTEGER NOT NULL,
  lease_expires_at INTEGER NOT NULL
);

-- Events for handles in other processes (done, step finished, nextTask). Pruned after a minute.
CREATE TABLE events (
  id         INTEGER PRIMARY KEY,
  origin     TEXT NOT NULL,                  -- connection that wrote it; it already delivered it locally
  payload    TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
