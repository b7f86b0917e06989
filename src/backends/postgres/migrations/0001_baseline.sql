-- deflow PostgreSQL schema, version 1: the baseline (tables, indexes, types, their seed rows).
-- Numbered migrations hold everything but functions, and are append-only: never edit one that
-- was released; add 00NN_*.sql instead. Functions live in ../functions/*.sql, re-applied when
-- they change (see docs/backends/postgres.md).
-- Every migration runs with search_path set to the deflow schema (register option `schema`),
-- so names here are unqualified. Times are PostgreSQL's (now()), truncated to milliseconds.

-- A job: a task, or the beforeAll / afterAll hook of a step.
--   fresh      never claimed alone; leased in a range when seq <= steps.fresh_cursor
--   leased     claimed alone (owner, token): retried, handed back or recovered jobs, and hooks
--   succeeded | failed   terminal
--   requeued   claimable again (after a retry, a release or a recovery), from run_at on
CREATE TYPE job_state AS ENUM ('fresh', 'leased', 'succeeded', 'failed', 'requeued');

CREATE TABLE workflows (
  id              text PRIMARY KEY,
  name            text NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
  options         jsonb NOT NULL,               -- StoredWorkflowOptions
  error           jsonb,                        -- SerializedError
  created_at      timestamptz NOT NULL,
  started_at      timestamptz,
  finished_at     timestamptz,
  expires_at      timestamptz,                  -- retention: removed after this instant
  open_steps      integer NOT NULL DEFAULT 0,   -- steps not yet terminal
  run_seq         integer NOT NULL DEFAULT 0,   -- last step run index handed out
  watch_next_task boolean NOT NULL DEFAULT false
);
CREATE INDEX workflows_by_created ON workflows (created_at DESC, id DESC);
CREATE INDEX workflows_by_name ON workflows (name, created_at DESC, id DESC);
CREATE INDEX workflows_by_expiry ON workflows (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE steps (
  pk            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workflow_id   text NOT NULL,
  id            text NOT NULL,
  name          text NOT NULL,
  handler       jsonb NOT NULL,                 -- HandlerRef
  data          text NOT NULL,                  -- step data, JSON text as the engine gave it
  options       jsonb NOT NULL,                 -- ResolvedStepOptions
  max_attempts  integer NOT NULL,
  retry_delay   integer NOT NULL,               -- milliseconds
  deps          jsonb NOT NULL,                 -- StepDependency[] (edges are in step_edges)
  anchor_pk     bigint,                         -- addAfter: the step this one runs after
  anchor_phase  text,                           -- task | before | after
  anchor_seq    integer,                        -- call order among the anchor's children
  parent_id     text,
  decl_index    integer NOT NULL,
  run_index     integer,
  status        text NOT NULL CHECK (status IN ('waiting', 'running', 'succeeded', 'failed', 'skipped')),
  stage         text NOT NULL,                  -- see StepStage
  has_before    boolean NOT NULL,
  has_after     boolean NOT NULL,
  failing       jsonb,                          -- {seq, error}: a task failed for good, the step will fail
  total         integer NOT NULL DEFAULT 0,
  done          integer NOT NULL DEFAULT 0,
  failed        integer NOT NULL DEFAULT 0,
  next_seq      integer NOT NULL DEFAULT 0,     -- last task seq handed out
  fresh_cursor  integer NOT NULL DEFAULT 0,     -- last task seq leased in a range
  child_seq     integer NOT NULL DEFAULT 0,     -- last anchor_seq handed out to added steps
  error         jsonb,
  started_at    timestamptz,
  finished_at   timestamptz,
  UNIQUE (workflow_id, id)
);
CREATE INDEX steps_running ON steps (pk) WHERE status = 'running';
CREATE INDEX steps_children ON steps (anchor_pk, anchor_phase, anchor_seq) WHERE anchor_pk IS NOT NULL;

-- Dependency edges, looked up from the parent when it finishes.
CREATE TABLE step_edges (
  parent_pk bigint NOT NULL,
  child_pk  bigint NOT NULL,
  on_cond   text NOT NULL CHECK (on_cond IN ('success', 'failure', 'always')),
  PRIMARY KEY (parent_pk, child_pk)
);
CREATE INDEX step_edges_child ON step_edges (child_pk);

-- Tasks and hook jobs: seq 0 = beforeAll, 1.. = tasks in order, 2147483647 = afterAll.
-- No foreign keys on purpose: this is the hot table, and retention deletes by step.
-- A task that succeeded inside a range lease keeps status 'fresh' here: its outcome is in
-- `results` (see below); every other outcome is written on the job's row.
CREATE TABLE jobs (
  step_pk       bigint NOT NULL,
  seq           integer NOT NULL,
  status        job_state NOT NULL DEFAULT 'fresh',
  failed_count  integer NOT NULL DEFAULT 0,
  token         integer NOT NULL DEFAULT 0,     -- fencing token of a job leased alone, bumped on every claim
  owner         bigint,                         -- nodes.pk of the holder of a job leased alone
  run_at        timestamptz,                    -- requeued: not claimable before (retry delay)
  data          text NOT NULL,
  result        text,
  error         jsonb,
  finished_at   timestamptz,
  claim_call    bigint,                         -- number of the node's call that claimed it (see claims.sql)
  PRIMARY KEY (step_pk, seq)
);
CREATE INDEX jobs_requeued ON jobs (step_pk, seq) WHERE status = 'requeued';
CREATE INDEX jobs_leased ON jobs (owner) WHERE status = 'leased';
CREATE INDEX jobs_delayed ON jobs (run_at) WHERE status = 'requeued' AND run_at IS NOT NULL;

-- Fresh tasks are leased in ranges: one row per claimed batch instead of one write per task.
-- A fresh task with seq <= steps.fresh_cursor belongs to exactly one range lease. The jobs of
-- a range carry the fencing token -id; whoever changes them (completion, release,
-- reconciliation, recovery) first locks the lease row. Bit i of `done` / `gone` stands for
-- seq lo + i: done = succeeded (outcome in `results`), gone = left the range on its own
-- (failed, retried or handed back: its job row says how). A task of the range that is
-- neither is still held by the owner.
CREATE TABLE leases (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner   bigint NOT NULL,                      -- nodes.pk
  step_pk bigint NOT NULL,
  lo      integer NOT NULL,                     -- first task seq of the range
  hi      integer NOT NULL,                     -- last task seq of the range
  done    bit varying,                          -- NULL: none yet
  gone    bit varying,                          -- NULL: none yet
  claim_call bigint                             -- number of the node's call that claimed it
);
CREATE INDEX leases_by_owner ON leases (owner);
CREATE INDEX leases_by_step ON leases (step_pk);

-- Outcomes of range-leased tasks that succeeded, one row per lease and completion batch: a
-- batch of N successes is one insert (and one lease bitmap update) instead of N row updates.
CREATE TABLE results (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  lease_id    bigint NOT NULL,
  step_pk     bigint NOT NULL,
  lo          integer NOT NULL,                 -- smallest seq of the batch
  hi          integer NOT NULL,                 -- largest seq of the batch
  seqs        integer[] NOT NULL,
  results     text[] NOT NULL,                  -- JSON text or NULL per task, as the engine gave it
  errors      jsonb[],                          -- side-hook errors (afterEach) per task; NULL when none
  finished_at timestamptz NOT NULL
);
CREATE INDEX results_by_step ON results (step_pk, lo);

-- addTasks calls already applied (deterministic keys make retried hooks idempotent).
CREATE TABLE task_batches (
  step_pk   bigint NOT NULL,
  batch_key text NOT NULL,
  PRIMARY KEY (step_pk, batch_key)
);

-- Steps of removed workflows whose jobs retention still has to delete, a bounded batch at a time.
CREATE TABLE doomed_steps (
  step_pk bigint PRIMARY KEY
);

-- One row per node process that joined; a node whose lease ran out is removed by the watchdog.
CREATE TABLE nodes (
  pk               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id               text NOT NULL UNIQUE,
  host             text NOT NULL,
  pid              integer NOT NULL,
  handlers         jsonb NOT NULL,              -- string[]
  started_at       timestamptz NOT NULL,
  heartbeat_at     timestamptz NOT NULL,
  lease_expires_at timestamptz NOT NULL,
  reconciled_call  bigint,                      -- fence of its last reconciling heartbeat (see nodes.sql)
  lease_ms         integer NOT NULL             -- its lease length, for the outage grace
);

-- The watchdog's last run: any node may run it, the row makes it happen once per interval.
CREATE TABLE watchdog (
  id     integer PRIMARY KEY CHECK (id = 1),
  ran_at timestamptz NOT NULL
);
INSERT INTO watchdog (id, ran_at) VALUES (1, '-infinity');

-- Events that must survive a lost LISTEN connection (step and workflow ends: a listener that
-- reconnects replays the last minute), and events too big for a NOTIFY payload. Pruned by retention.
CREATE TABLE events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payload    jsonb NOT NULL,
  replay     boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_time ON events (created_at);

-- The last silence: nobody heartbeated for more than half a lease between these two instants
-- (the last heartbeat before it, and the heartbeat or registration that ended it).
CREATE TABLE contact (
  id                integer PRIMARY KEY CHECK (id = 1),
  silence_began_at  timestamptz NOT NULL,
  silence_ended_at  timestamptz NOT NULL
);
INSERT INTO contact (id, silence_began_at, silence_ended_at) VALUES (1, '-infinity', '-infinity');
