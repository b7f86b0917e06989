-- deflow PostgreSQL functions: claims.
--
-- Hook jobs and requeued tasks are leased alone: status 'leased', owner, and a fencing token
-- (positive) bumped on every claim; requeued tasks are picked with FOR UPDATE SKIP LOCKED, so
-- racing claims never wait for each other and never pick the same row. Fresh tasks are leased
-- as a range: the step's fresh_cursor moves forward under the step's row lock and one leases
-- row records (owner, lo..hi); their fencing token is minus the lease id. No per-task write
-- happens at claim time.
--
-- Claims are numbered, so a reconciling heartbeat hands back only what the node could have
-- listed. After a round trip failed ambiguously, the node's next heartbeat lists the jobs it
-- holds and the jobs leased to it but not listed are handed back. The list is a snapshot taken
-- when the heartbeat was sent; a claim sent after it could commit first (another pool
-- connection, a reconnect, the heartbeat replayed through the pool after a timeout), and its
-- jobs, which the node is running, must not be handed back (they would run a second time as
-- the same attempt).
--
-- So every claim carries the number of the call that made it (p_call, increasing in the
-- node's process), kept on its range lease or job (claim_call), and a reconciling heartbeat
-- carries the number of the last call the node had sent when it took the snapshot (the fence):
-- it hands back only jobs claimed by calls up to the fence. Every such call had been answered
-- (the node does not reconcile while a claim is in flight) or had failed on the node's side.
-- A failed call whose claim still runs on the server after the reconciliation (a "ghost") is
-- refused: the node row keeps the last fence (reconciled_call). Claims of a node take a shared
-- advisory lock on it and a reconciliation (reconcile_held, 06_nodes.sql) an exclusive one, so
-- a claim in progress is either seen by the reconciliation or sees its fence.
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.
-- LANGUAGE sql bodies are checked at creation: they may call functions of earlier files only.


-- The advisory lock key of a node's claims (schemas sharing a database do not share keys).
CREATE FUNCTION node_claims_key(p_node_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT hashtextextended('deflow.claims.' || current_schema() || '.' || p_node_id, 0)
$$;

-- Taken by every transaction that claims for a node (none for a null node), first thing.
CREATE FUNCTION lock_claims_shared(p_node_id text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_node_id IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock_shared(node_claims_key(p_node_id));
  END IF;
END
$$;

-- The claim rule of a limited step (globalConcurrency, keyConcurrency, a keyed rate limit;
-- docs/backends/step-machine.md): its tasks are leased alone, ready-again ones first then fresh
-- ones, each in seq order, skipping a task whose bucket holds keyConcurrency leased tasks or whose
-- rate bucket (p_rate: the keyed rate limit's name, else NULL) has no room, until the step holds
-- globalConcurrency. The step's row lock serialises its claims (the step count); a
-- transaction-scoped advisory lock per bucket and per rate bucket, taken in one sorted order,
-- serialises claims of the same bucket from any workflow, so each count read under it is current
-- (READ COMMITTED). The fresh cursor marks the prefix of tasks no longer fresh, so a claim never
-- rescans them. rate_wait: ms until a rate bucket that refused a task has room (NULL: none did);
-- rate_known false: p_rate is not set (its tasks are claimed unchecked and fail in the engine).
-- No bitmap scans: with the statistics of a freshly filled table the candidates' scan became a
-- bitmap scan of every task after the cursor (the whole step) sorted for the first v_scan,
-- instead of an index scan in seq order that stops there.
CREATE FUNCTION claim_limited(
  p_step steps, p_owner bigint, p_limit integer, p_call bigint, p_rate text,
  OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens bigint[], OUT lost integer[],
  OUT rate_wait bigint, OUT rate_known boolean
) LANGUAGE plpgsql SET enable_bitmapscan = off AS $$
DECLARE
  v_scan integer := greatest(2000, p_limit);
  v_room integer := p_limit;
  v_cursor integer;
  v_seqs integer[];
  v_bucket_of text[];
  v_rate_of text[];
  v_fresh boolean[];
  v_buckets text[];
  v_rbuckets text[];
  v_chosen integer[];
  v_left integer;
  v_rate_max integer;
  v_rate_per bigint;
  v_now bigint;
BEGIN
  seqs := '{}';
  datas := '{}';
  failed := '{}';
  tokens := '{}';
  lost := '{}';
  rate_known := true;
  SELECT s.fresh_cursor INTO v_cursor FROM steps s WHERE s.pk = p_step.pk AND s.status = 'running' AND s.stage = 'tasks' FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF p_rate IS NOT NULL THEN
    SELECT l.max, l.per_ms INTO v_rate_max, v_rate_per FROM rate_limits l WHERE l.name = p_rate;
    rate_known := FOUND;
  END IF;
  IF p_step.global_limit IS NOT NULL THEN
    SELECT least(v_room, p_step.global_limit - count(*)) INTO v_room FROM jobs j
    WHERE j.step_pk = p_step.pk AND j.status = 'leased' AND j.seq BETWEEN 1 AND 2147483646;
  END IF;
  IF v_room <= 0 THEN
    RETURN;
  END IF;
  SELECT array_agg(c.seq ORDER BY c.fresh, c.seq), array_agg(c.bucket ORDER BY c.fresh, c.seq),
         array_agg(c.rate_bucket ORDER BY c.fresh, c.seq), array_agg(c.fresh ORDER BY c.fresh, c.seq)
  INTO v_seqs, v_bucket_of, v_rate_of, v_fresh
  FROM (
    (SELECT r.seq, r.bucket, r.rate_bucket, false AS fresh FROM jobs r
     WHERE r.step_pk = p_step.pk AND r.status = 'requeued' AND (r.run_at IS NULL OR r.run_at <= now()) AND r.seq BETWEEN 1 AND 2147483646
     ORDER BY r.seq LIMIT v_scan)
    UNION ALL
    (SELECT f.seq, f.bucket, f.rate_bucket, true FROM jobs f
     WHERE f.step_pk = p_step.pk AND f.seq > v_cursor AND f.seq < 2147483647 AND f.status = 'fresh'
     ORDER BY f.seq LIMIT v_scan)
  ) c;
  IF v_seqs IS NULL THEN
    RETURN;
  END IF;
  IF p_step.key_limit IS NOT NULL OR v_rate_max IS NOT NULL THEN
    v_now := floor(epoch_ms(clock_timestamp()))::bigint;
    -- Lock only the buckets of the candidates that look free without locks (a bucket only gets
    -- freer meanwhile: one that looked full is simply left for the next claim).
    WITH cand AS (
      SELECT u.bucket, u.rbucket, u.ord FROM unnest(v_bucket_of, v_rate_of) WITH ORDINALITY AS u(bucket, rbucket, ord)
    ), counted AS (
      SELECT l.bucket, count(*) AS n FROM jobs l
      WHERE p_step.key_limit IS NOT NULL AND l.status = 'leased' AND l.bucket = ANY(v_bucket_of) GROUP BY l.bucket
    ), rcounted AS (
      SELECT r.bucket, sum(r.n) AS n FROM rate_bucket_starts r
      WHERE v_rate_max IS NOT NULL AND r.bucket = ANY(v_rate_of) AND r.at > v_now - v_rate_per GROUP BY r.bucket
    ), ranked AS (
      SELECT c.ord, c.bucket, c.rbucket,
             coalesce(k.n, 0) + row_number() OVER (PARTITION BY c.bucket ORDER BY c.ord) AS nth,
             coalesce(q.n, 0) + row_number() OVER (PARTITION BY c.rbucket ORDER BY c.ord) AS rnth
      FROM cand c LEFT JOIN counted k ON k.bucket = c.bucket LEFT JOIN rcounted q ON q.bucket = c.rbucket
    ), likely AS (
      SELECT r.bucket, r.rbucket FROM ranked r
      WHERE (p_step.key_limit IS NULL OR r.bucket IS NULL OR r.nth <= p_step.key_limit)
        AND (v_rate_max IS NULL OR r.rbucket IS NULL OR r.rnth <= v_rate_max)
      ORDER BY r.ord LIMIT v_room
    )
    SELECT array_agg(DISTINCT l.bucket) FILTER (WHERE l.bucket IS NOT NULL AND p_step.key_limit IS NOT NULL),
           array_agg(DISTINCT l.rbucket) FILTER (WHERE l.rbucket IS NOT NULL AND v_rate_max IS NOT NULL)
    INTO v_buckets, v_rbuckets FROM likely l;
    IF v_buckets IS NOT NULL OR v_rbuckets IS NOT NULL THEN
      -- One order for every transaction: no two claims wait for each other's buckets.
      PERFORM pg_advisory_xact_lock(k.key) FROM (
        SELECT DISTINCT h.key FROM (
          SELECT hashtextextended('deflow.bucket.' || current_schema() || '.' || b, 0) AS key FROM unnest(v_buckets) b
          UNION ALL
          SELECT hashtextextended('deflow.rate.' || current_schema() || '.' || b, 0) FROM unnest(v_rbuckets) b
        ) h ORDER BY 1
      ) k;
    END IF;
    IF v_rbuckets IS NOT NULL THEN
      -- Under the buckets' locks: starts are logged in time order, and those that left the window go.
      v_now := floor(epoch_ms(clock_timestamp()))::bigint;
      DELETE FROM rate_bucket_starts r WHERE r.bucket = ANY(v_rbuckets) AND r.at <= v_now - v_rate_per;
    END IF;
  END IF;
  -- One statement, so its snapshot is taken after the bucket locks: the counts are current.
  -- The locked buckets and rate buckets are joined (hashed), not searched as an array per
  -- candidate: with a thousand buckets that search was most of the claim.
  WITH cand AS (
    SELECT u.seq, u.bucket, u.rbucket, u.ord FROM unnest(v_seqs, v_bucket_of, v_rate_of) WITH ORDINALITY AS u(seq, bucket, rbucket, ord)
  ), locked AS MATERIALIZED (
    SELECT DISTINCT b.bucket FROM unnest(v_buckets) AS b(bucket)
  ), rlocked AS MATERIALIZED (
    SELECT DISTINCT b.bucket FROM unnest(v_rbuckets) AS b(bucket)
  ), counted AS (
    SELECT l.bucket, count(*) AS n FROM jobs l
    WHERE v_buckets IS NOT NULL AND l.status = 'leased' AND l.bucket = ANY(v_buckets) GROUP BY l.bucket
  ), rcounted AS (
    SELECT r.bucket, sum(r.n) AS n FROM rate_bucket_starts r
    WHERE v_rbuckets IS NOT NULL AND r.bucket = ANY(v_rbuckets) AND r.at > v_now - v_rate_per GROUP BY r.bucket
  ), ranked AS (
    SELECT c.seq, c.ord, c.bucket, c.rbucket, b.bucket IS NOT NULL AS held, rb.bucket IS NOT NULL AS rheld,
           coalesce(k.n, 0) + row_number() OVER (PARTITION BY c.bucket ORDER BY c.ord) AS nth,
           coalesce(q.n, 0) + row_number() OVER (PARTITION BY c.rbucket ORDER BY c.ord) AS rnth
    FROM cand c LEFT JOIN counted k ON k.bucket = c.bucket LEFT JOIN rcounted q ON q.bucket = c.rbucket
      LEFT JOIN locked b ON b.bucket = c.bucket LEFT JOIN rlocked rb ON rb.bucket = c.rbucket
  )
  SELECT array_agg(c.seq) INTO v_chosen FROM (
    SELECT r.seq FROM ranked r
    WHERE (p_step.key_limit IS NULL OR r.bucket IS NULL OR (r.held AND r.nth <= p_step.key_limit))
      AND (v_rate_max IS NULL OR r.rbucket IS NULL OR (r.rheld AND r.rnth <= v_rate_max))
    ORDER BY r.ord LIMIT v_room
  ) c;
  -- By primary key, one index probe per chosen seq (a filter over the step's rows was the
  -- plan with fresh statistics).
  WITH claimed AS (
    UPDATE jobs j SET status = 'leased', owner = p_owner, token = j.token + 1, claim_call = p_call
    FROM unnest(coalesce(v_chosen, '{}')) AS c(seq)
    WHERE j.step_pk = p_step.pk AND j.seq = c.seq AND j.status IN ('fresh', 'requeued')
    RETURNING j.seq, j.data, j.failed_count, j.token, j.lost_count
  )
  SELECT coalesce(array_agg(c.seq ORDER BY c.seq), '{}'), coalesce(array_agg(c.data ORDER BY c.seq), '{}'),
         coalesce(array_agg(c.failed_count ORDER BY c.seq), '{}'), coalesce(array_agg(c.token::bigint ORDER BY c.seq), '{}'),
         coalesce(array_agg(c.lost_count ORDER BY c.seq), '{}')
  INTO seqs, datas, failed, tokens, lost FROM claimed c;
  IF v_rate_max IS NOT NULL THEN
    -- The claim's starts, one entry per rate bucket; then when a bucket that refused a task has room.
    -- (The claimed seqs are joined, not searched as an array per candidate, as above.)
    INSERT INTO rate_bucket_starts (name, bucket, at, n)
    SELECT p_rate, u.rbucket, v_now, count(*) FROM unnest(v_seqs, v_rate_of) AS u(seq, rbucket)
    JOIN unnest(seqs) AS t(seq) ON t.seq = u.seq
    WHERE u.rbucket IS NOT NULL GROUP BY u.rbucket;
    SELECT min(greatest(0, least(w.oldest, v_now) + v_rate_per - v_now)) INTO rate_wait FROM (
      SELECT min(r.at) AS oldest, sum(r.n) AS used FROM rate_bucket_starts r
      WHERE r.at > v_now - v_rate_per AND r.bucket IN (
        SELECT u.rbucket FROM unnest(v_seqs, v_rate_of) AS u(seq, rbucket)
        WHERE u.rbucket IS NOT NULL AND NOT EXISTS (SELECT FROM unnest(seqs) AS t(seq) WHERE t.seq = u.seq)
      )
      GROUP BY r.bucket
    ) w WHERE w.used >= v_rate_max;
  END IF;
  -- The cursor moves up to the first fresh task left behind (all of them taken: the last one).
  SELECT min(d.seq) - 1 INTO v_left FROM (
    SELECT u.seq FROM unnest(v_seqs, v_fresh) AS u(seq, fresh) WHERE u.fresh
    EXCEPT SELECT unnest(seqs)
  ) d;
  IF v_left IS NULL THEN
    SELECT max(u.seq) INTO v_left FROM unnest(v_seqs, v_fresh) AS u(seq, fresh) WHERE u.fresh;
  END IF;
  v_cursor := greatest(v_cursor, coalesce(v_left, v_cursor));
  UPDATE steps SET fresh_cursor = v_cursor WHERE pk = p_step.pk AND fresh_cursor < v_cursor;
END
$$;

-- The room a rate limit leaves now: at most `max` starts in any window of `per_ms` (migration
-- 0010). Locks the limit's row (p_wait: waiting for it, else giving up when it is taken: locked
-- false), forgets starts that left the window, and reads the clock under the lock, so starts
-- are logged in time order. known false: the limit is not set.
CREATE FUNCTION rate_gate(
  p_name text, p_wait boolean,
  OUT known boolean, OUT locked boolean, OUT room integer, OUT oldest bigint, OUT per_ms bigint, OUT now_ms bigint
) LANGUAGE plpgsql AS $$
DECLARE
  v_limit rate_limits;
  v_used bigint;
BEGIN
  known := EXISTS (SELECT 1 FROM rate_limits l WHERE l.name = p_name);
  locked := false;
  IF NOT known THEN
    RETURN;
  END IF;
  IF p_wait THEN
    SELECT * INTO v_limit FROM rate_limits l WHERE l.name = p_name FOR UPDATE;
  ELSE
    SELECT * INTO v_limit FROM rate_limits l WHERE l.name = p_name FOR UPDATE SKIP LOCKED;
  END IF;
  IF NOT FOUND THEN
    -- Taken by another claim (p_wait false), or removed meanwhile (then: unknown).
    known := EXISTS (SELECT 1 FROM rate_limits l WHERE l.name = p_name);
    RETURN;
  END IF;
  locked := true;
  per_ms := v_limit.per_ms;
  now_ms := floor(epoch_ms(clock_timestamp()))::bigint;
  DELETE FROM rate_starts r WHERE r.name = p_name AND r.at <= now_ms - per_ms;
  SELECT coalesce(sum(r.n), 0), min(r.at) INTO v_used, oldest FROM rate_starts r WHERE r.name = p_name;
  room := greatest(0, v_limit.max - v_used)::integer;
END
$$;

-- Logs `p_started` starts of a claim; answers the milliseconds until the next start is allowed
-- when the limit cut the claim short (it asked for more than the room and took all of it), else null.
CREATE FUNCTION rate_log(
  p_name text, p_now bigint, p_per_ms bigint, p_room integer, p_oldest bigint, p_asked integer, p_started integer
) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  IF p_started > 0 THEN
    INSERT INTO rate_starts (name, at, n) VALUES (p_name, p_now, p_started);
  END IF;
  IF p_asked <= p_room OR p_started < p_room THEN
    RETURN NULL;
  END IF;
  RETURN greatest(0, least(coalesce(p_oldest, p_now), p_now) + p_per_ms - p_now);
END
$$;

-- Leases up to p_limit ready jobs of one step to a node, for call p_call. Refuses (ERR_LEASE_LOST)
-- a node that is not registered (any more): it was declared dead and must register again.
--
-- A step with a rate limit (options.rateLimit) starts at most what rate_gate allows. p_wait:
-- whether to wait for the limit's row lock. Only a claim on its own (claim_jobs) waits, before it
-- locks anything else; a claim inside a completion (which holds step rows) does not, so no lock
-- cycle can form: it claims nothing then and answers rate_limited_ms = 0 (claim again).
CREATE FUNCTION claim_core(
  p_node_id text, p_workflow_id text, p_step_id text, p_limit integer, p_call bigint, p_wait boolean,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens bigint[],
  OUT total integer, OUT watch boolean, OUT lost integer[], OUT rate_limited_ms bigint, OUT unknown_rate_limit text
) LANGUAGE plpgsql AS $$
DECLARE
  v_rate text;
  v_rate_keyed boolean;
  v_rate_wait bigint;
  v_rate_known boolean;
  v_gate record;
  v_gated boolean := false;
  v_asked integer := p_limit;
  v_owner bigint;
  v_reconciled bigint;
  v_step steps;
  v_room integer;
  v_lo integer;
  v_hi integer;
  v_cursor integer;
  v_next integer;
  v_lease bigint;
  v_seqs integer[];
  v_datas text[];
  v_failed integer[];
  v_tokens bigint[];
  v_lost integer[];
  v_workflow_status text;
  v_watch boolean;
BEGIN
  seqs := '{}';
  datas := '{}';
  failed := '{}';
  tokens := '{}';
  lost := '{}';
  watch := false;
  SELECT pk, reconciled_call INTO v_owner, v_reconciled FROM nodes WHERE id = p_node_id;
  IF NOT FOUND THEN
    PERFORM refuse(jsonb_build_object('code', 'ERR_LEASE_LOST', 'nodeId', p_node_id));
  END IF;
  -- Sent before a reconciliation that already ran: the node gave up on this call and never
  -- sees its answer, so it claims nothing (what it would claim would be stranded).
  IF p_call <= v_reconciled THEN
    total := 0;
    RETURN;
  END IF;
  SELECT * INTO v_step FROM steps s WHERE s.workflow_id = p_workflow_id AND s.id = p_step_id;
  IF NOT FOUND THEN
    total := 0;
    RETURN;
  END IF;
  total := v_step.total;
  step_pk := v_step.pk;
  IF v_step.status <> 'running' OR p_limit < 1 THEN
    RETURN;
  END IF;
  -- Paused or finished (cancelled): nothing is claimed (docs/backends/step-machine.md#run-control).
  -- One read of the workflow row, for watch_next_task too.
  SELECT w.status, w.watch_next_task INTO v_workflow_status, v_watch FROM workflows w WHERE w.id = p_workflow_id;
  IF v_workflow_status IS NULL OR v_workflow_status NOT IN ('pending', 'running') THEN
    RETURN;
  END IF;
  v_rate := CASE WHEN v_step.stage = 'tasks' AND jsonb_typeof(v_step.options->'rateLimit') = 'string' THEN v_step.options->>'rateLimit' END;
  -- A keyed rate limit: each task's rate bucket has its own room, checked by claim_limited.
  v_rate_keyed := v_rate IS NOT NULL AND jsonb_typeof(v_step.options->'rateLimitKey') IS NOT DISTINCT FROM 'string';
  IF v_rate IS NOT NULL AND NOT v_rate_keyed THEN
    SELECT * INTO v_gate FROM rate_gate(v_rate, p_wait);
    IF NOT v_gate.known THEN
      unknown_rate_limit := v_rate;
    ELSIF NOT v_gate.locked THEN
      rate_limited_ms := 0;
      RETURN;
    ELSE
      v_gated := true;
      p_limit := least(p_limit, v_gate.room);
      IF p_limit < 1 THEN
        rate_limited_ms := greatest(0, v_gate.oldest + v_gate.per_ms - v_gate.now_ms);
        RETURN;
      END IF;
    END IF;
  END IF;

  IF v_step.stage IN ('before', 'after') THEN
    WITH claimed AS (
      UPDATE jobs j SET status = 'leased', owner = v_owner, token = j.token + 1, claim_call = p_call
      WHERE j.step_pk = v_step.pk AND j.seq = (CASE WHEN v_step.stage = 'before' THEN 0 ELSE 2147483647 END)
        AND j.status IN ('fresh', 'requeued') AND (j.run_at IS NULL OR j.run_at <= now())
      RETURNING j.seq, j.data, j.failed_count, j.token, j.lost_count
    )
    SELECT array_agg(c.seq), array_agg(c.data), array_agg(c.failed_count), array_agg(c.token::bigint), array_agg(c.lost_count)
    INTO v_seqs, v_datas, v_failed, v_tokens, v_lost FROM claimed c;
    IF v_seqs IS NOT NULL THEN
      seqs := v_seqs;
      datas := v_datas;
      failed := v_failed;
      tokens := v_tokens;
      lost := v_lost;
    END IF;
  ELSIF v_step.stage = 'tasks' AND (v_step.global_limit IS NOT NULL OR v_step.key_limit IS NOT NULL OR v_rate_keyed) THEN
    -- p_limit is capped by the rate gate above, so a limited step keeps its rate too.
    SELECT * INTO seqs, datas, failed, tokens, lost, v_rate_wait, v_rate_known
    FROM claim_limited(v_step, v_owner, p_limit, p_call, CASE WHEN v_rate_keyed THEN v_rate END);
    IF v_rate_keyed AND NOT v_rate_known THEN
      unknown_rate_limit := v_rate;
    ELSIF v_rate_keyed THEN
      rate_limited_ms := v_rate_wait;
    END IF;
  ELSIF v_step.stage = 'tasks' THEN
    -- Jobs back in the queue (retried, handed back, recovered) are leased one by one.
    WITH picked AS (
      SELECT r.seq FROM jobs r
      WHERE r.step_pk = v_step.pk AND r.status = 'requeued' AND (r.run_at IS NULL OR r.run_at <= now())
      ORDER BY r.seq
      LIMIT p_limit
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE jobs j SET status = 'leased', owner = v_owner, token = j.token + 1, claim_call = p_call
      FROM picked WHERE j.step_pk = v_step.pk AND j.seq = picked.seq
      RETURNING j.seq, j.data, j.failed_count, j.token, j.lost_count
    )
    SELECT array_agg(c.seq ORDER BY c.seq), array_agg(c.data ORDER BY c.seq),
           array_agg(c.failed_count ORDER BY c.seq), array_agg(c.token::bigint ORDER BY c.seq),
           array_agg(c.lost_count ORDER BY c.seq)
    INTO v_seqs, v_datas, v_failed, v_tokens, v_lost FROM claimed c;
    IF v_seqs IS NOT NULL THEN
      seqs := v_seqs;
      datas := v_datas;
      failed := v_failed;
      tokens := v_tokens;
      lost := v_lost;
    END IF;
    v_room := p_limit - coalesce(array_length(seqs, 1), 0);
    IF v_room > 0 AND v_step.fresh_cursor < v_step.next_seq THEN
      -- The row lock serialises range claims of this step; the cursor is re-read under it.
      SELECT s.fresh_cursor, s.next_seq INTO v_cursor, v_next FROM steps s
      WHERE s.pk = v_step.pk AND s.status = 'running' AND s.stage = 'tasks'
      FOR UPDATE;
      IF FOUND AND v_cursor < v_next THEN
        v_lo := v_cursor + 1;
        v_hi := least(v_cursor + v_room, v_next);
        UPDATE steps SET fresh_cursor = v_hi WHERE pk = v_step.pk;
        INSERT INTO leases (owner, step_pk, lo, hi, claim_call) VALUES (v_owner, v_step.pk, v_lo, v_hi, p_call) RETURNING id INTO v_lease;
        SELECT array_agg(j.seq ORDER BY j.seq), array_agg(j.data ORDER BY j.seq)
        INTO v_seqs, v_datas
        FROM jobs j WHERE j.step_pk = v_step.pk AND j.seq BETWEEN v_lo AND v_hi AND j.status = 'fresh';
        IF v_seqs IS NOT NULL THEN
          seqs := seqs || v_seqs;
          datas := datas || v_datas;
          failed := failed || array_fill(0, ARRAY[array_length(v_seqs, 1)]);
          lost := lost || array_fill(0, ARRAY[array_length(v_seqs, 1)]);
          tokens := tokens || array_fill(-v_lease, ARRAY[array_length(v_seqs, 1)]);
        END IF;
      END IF;
    END IF;
  END IF;
  IF array_length(seqs, 1) > 0 THEN
    watch := v_watch;
  END IF;
  IF v_gated THEN
    rate_limited_ms := rate_log(v_rate, v_gate.now_ms, v_gate.per_ms, v_gate.room, v_gate.oldest, v_asked, coalesce(array_length(seqs, 1), 0));
  END IF;
END
$$;

-- Entry point: a claim on its own.
CREATE FUNCTION claim_jobs(
  p_node_id text, p_workflow_id text, p_step_id text, p_limit integer, p_call bigint,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens bigint[],
  OUT total integer, OUT watch boolean, OUT lost integer[], OUT rate_limited_ms bigint, OUT unknown_rate_limit text
) LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM lock_claims_shared(p_node_id);
  SELECT * INTO step_pk, seqs, datas, failed, tokens, total, watch, lost, rate_limited_ms, unknown_rate_limit
  FROM claim_core(p_node_id, p_workflow_id, p_step_id, p_limit, p_call, true);
END
$$;

-- Entry point: starts the waiting steps whose timer came due (the step machine's start), each
-- under its workflow's row lock, taken in id order like every operation that locks several.
-- Called by runnableSteps only when its answer shows a timer that is due. Returns how many.
CREATE FUNCTION start_due_steps(p_limit integer) RETURNS integer
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_workflow text;
  v_pk bigint;
  v_started integer := 0;
BEGIN
  PERFORM begin_events();
  FOR v_workflow IN
    SELECT DISTINCT d.workflow_id FROM (
      SELECT s.workflow_id FROM steps s JOIN workflows w ON w.id = s.workflow_id
      WHERE s.status = 'waiting' AND s.due_at IS NOT NULL AND s.due_at <= now() AND w.status IN ('pending', 'running')
      ORDER BY s.due_at LIMIT p_limit
    ) d ORDER BY d.workflow_id
  LOOP
    -- A paused workflow's timers wait for its resume (a cancelled one has none: the cancel drops
    -- them); the status is read again under the lock, a pause may have come meanwhile.
    PERFORM 1 FROM workflows w WHERE w.id = v_workflow AND w.status IN ('pending', 'running') FOR UPDATE;
    CONTINUE WHEN NOT FOUND;
    FOR v_pk IN
      SELECT s.pk FROM steps s
      WHERE s.workflow_id = v_workflow AND s.status = 'waiting' AND s.due_at IS NOT NULL AND s.due_at <= now()
      ORDER BY s.due_at, s.pk
    LOOP
      PERFORM step_start(v_pk, '{}');
      v_started := v_started + 1;
    END LOOP;
    PERFORM settle_workflow(v_workflow);
  END LOOP;
  PERFORM flush_events();
  RETURN v_started;
END
$$;
