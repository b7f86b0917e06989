-- The hot path: claims, completions, releases, and finding steps with claimable jobs.
-- Job ids are "<step_pk>.<seq>"; outcomes and job lists cross as parallel arrays.

-- name: claim
-- ($1 node id, $2 workflow id, $3 step id, $4 limit, $5 call number: see functions/04_claims.sql)
SELECT step_pk::text AS step_pk, seqs, datas, failed, tokens::float8[] AS tokens, total, watch, lost,
       rate_limited_ms::float8 AS rate_limited_ms, unknown_rate_limit
FROM claim_jobs($1, $2, $3, $4, $5::bigint);

-- name: complete
-- ($1 workflow ids of the outcomes;
--  $2..$8 outcomes written one row each: step pks, seqs, tokens, kinds s|r|f, results, errors, retry delays;
--  $9..$15 successes of range jobs grouped per lease: lease ids, step pks, sizes, masks, seqs, results, errors;
--  $16 nextTask events to publish first; $17..$20 next claim: node id, workflow id, step id, limit, or nulls;
--  $21..$23 adopt: node id, handler keys, limit per step, or nulls; $24 call number of the claims;
--  $25 adopt: the node's queues)
-- stale: ids of the refused outcomes. Tokens: > 0 leased alone, < 0 minus a range lease id.
SELECT stale, events, step_pk::text AS step_pk, seqs, datas, failed, tokens::float8[] AS tokens, total, watch, lost, adopted,
       rate_limited_ms::float8 AS rate_limited_ms, unknown_rate_limit, pg_backend_pid() AS pid
FROM complete_jobs(
  $1::text[],
  $2::bigint[], $3::integer[], $4::bigint[], $5::text[], $6::text[], $7::jsonb[], $8::integer[],
  $9::bigint[], $10::bigint[], $11::integer[], $12::text[], $13::integer[], $14::text[], $15::jsonb[],
  $16::text[], $17, $18, $19, $20, $21, $22::text[], $23, $24::bigint, $25::text[]
);

-- name: startDueSteps
-- ($1 limit) Starts waiting steps whose timer came due.
SELECT start_due_steps($1) AS started;

-- name: release
-- ($1 step pks, $2 seqs, $3 tokens)
SELECT release_jobs($1::bigint[], $2::integer[], $3::bigint[]);

-- name: runnableSteps
-- ($1 limit) Running steps whose current stage has a claimable job, highest priority first,
-- then oldest workflow first (paused and cancelled workflows have none), with the clock, the
-- earliest time a delayed retry falls due or a rate limit that holds back a running step allows
-- a start, the earliest step timer of a
-- pending or running workflow (a paused workflow's wait for its resume) and the earliest waitTimeout of a held-back step (always one
-- row; step columns null when none). A step whose rate limit has no room now is left out.
-- $2: only steps of these queues (null: every queue), through steps_running_by_queue.
SELECT clock.now, least(clock.next_run_at, clock.next_rate_at) AS next_run_at, clock.next_timer_at, clock.next_wait_due, r.*
FROM (
  SELECT floor(epoch_ms(now())) AS now,
         (SELECT epoch_ms(min(j.run_at)) FROM jobs j WHERE j.status = 'requeued' AND j.run_at > now()) AS next_run_at,
         (SELECT epoch_ms(s.due_at) FROM steps s JOIN workflows w ON w.id = s.workflow_id
          WHERE s.status = 'waiting' AND s.due_at IS NOT NULL AND w.status IN ('pending', 'running')
          ORDER BY s.due_at LIMIT 1) AS next_timer_at,
         (SELECT epoch_ms(min(s.wait_due)) FROM steps s WHERE s.wait_due IS NOT NULL) AS next_wait_due,
         (SELECT min(full_limit.next) FROM (
            SELECT min(rs.at) + l.per_ms AS next
            FROM rate_limits l JOIN rate_starts rs ON rs.name = l.name AND rs.at > floor(epoch_ms(now())) - l.per_ms
            WHERE l.name IN (
              SELECT s.options->>'rateLimit' FROM steps s
              WHERE s.status = 'running' AND s.stage = 'tasks' AND jsonb_typeof(s.options->'rateLimit') = 'string'
                AND jsonb_typeof(s.options->'rateLimitKey') IS DISTINCT FROM 'string'
            )
            GROUP BY l.name, l.per_ms, l.max
            HAVING sum(rs.n) >= l.max
          ) full_limit) AS next_rate_at
) clock
LEFT JOIN LATERAL (
  SELECT s.workflow_id, w.name AS workflow_name, s.id, s.name, s.handler, s.data, s.options, s.run_index, s.parent_id
  FROM steps s JOIN workflows w ON w.id = s.workflow_id
  WHERE s.status = 'running' AND ($2::text[] IS NULL OR s.queue = ANY($2::text[]))
    AND w.status IN ('pending', 'running') AND (
    (s.stage = 'tasks' AND (
      jsonb_typeof(s.options->'rateLimit') IS DISTINCT FROM 'string' OR jsonb_typeof(s.options->'rateLimitKey') = 'string' OR NOT EXISTS (
        SELECT 1 FROM rate_limits l WHERE l.name = s.options->>'rateLimit'
          AND l.max <= (SELECT coalesce(sum(rs.n), 0) FROM rate_starts rs WHERE rs.name = l.name AND rs.at > floor(epoch_ms(now())) - l.per_ms)
      )
    ) AND (
      s.fresh_cursor < s.next_seq
      OR EXISTS (
        SELECT 1 FROM jobs j
        WHERE j.step_pk = s.pk AND j.status = 'requeued' AND (j.run_at IS NULL OR j.run_at <= now())
      )
    ))
    OR (s.stage IN ('before', 'after') AND EXISTS (
      SELECT 1 FROM jobs j
      WHERE j.step_pk = s.pk AND j.seq = CASE s.stage WHEN 'before' THEN 0 ELSE 2147483647 END
        AND j.status IN ('fresh', 'requeued') AND (j.run_at IS NULL OR j.run_at <= now())
    ))
  )
  ORDER BY CASE WHEN jsonb_typeof(s.options->'priority') = 'number' THEN (s.options->>'priority')::numeric ELSE 0 END DESC,
           w.created_at, s.run_index
  LIMIT $1
) r ON true;

-- name: controlWorkflow
-- ($1 workflow id, $2 cancel|pause|resume, $3 the cancel's error record or null)
SELECT known, changed, status, events, pg_backend_pid() AS pid FROM control_workflow($1, $2, $3::jsonb);

-- name: queueCounts
-- Ready and leased jobs per queue of running steps (metrics). Ready: fresh tasks past the range
-- cursor, jobs ready again whose retry delay passed, and the fresh hook job of a hook stage.
-- Leased: jobs leased alone, and range leases counted whole (an upper bound).
SELECT s.queue,
       sum(CASE WHEN s.stage = 'tasks' THEN s.next_seq - s.fresh_cursor ELSE 0 END
           + (SELECT count(*) FROM jobs j WHERE j.step_pk = s.pk
                AND (j.status = 'requeued' OR (j.status = 'fresh' AND j.seq = CASE s.stage WHEN 'before' THEN 0 WHEN 'after' THEN 2147483647 END))
                AND (j.run_at IS NULL OR j.run_at <= now())))::float8 AS ready,
       sum((SELECT count(*) FROM jobs j WHERE j.step_pk = s.pk AND j.status = 'leased')
           + (SELECT coalesce(sum(l.hi - l.lo + 1), 0) FROM leases l WHERE l.step_pk = s.pk))::float8 AS leased
FROM steps s
WHERE s.status = 'running'
GROUP BY s.queue;
