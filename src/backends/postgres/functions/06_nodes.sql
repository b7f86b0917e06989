-- deflow PostgreSQL functions: nodes, heartbeats and the watchdog.
--
-- A node holds one lease (nodes.lease_expires_at) covering every job it holds; heartbeats
-- extend it. The watchdog (recover_expired, called by every node; the watchdog row makes it
-- run once per interval) removes nodes whose lease ran out and takes their jobs back. A node
-- that heartbeats after it was removed learns it is dead and registers again (a new pk: the
-- jobs of its previous life are not its own any more).
--
-- Outage grace: an outage is not a node's death. When the database is unreachable for
-- everybody (a restart, a network outage) for longer than a lease, every lease runs out,
-- though every node is alive. So the database notices the silence: a heartbeat (or a
-- registration) that finds no heartbeat at all for more than half the shortest lease of the
-- nodes alive when it began records it (contact: from the last heartbeat before it to now), and
-- a node whose lease ran out after the last silence began is declared dead only once a whole
-- lease of it passed since that silence ended: it gets a full lease to heartbeat again, on the
-- database's clock. A node whose lease ran out before the last silence began (others were
-- heartbeating) is judged as usual, within leaseMs + checkProcessQueueInterval; so however
-- often silences happen (a jittery heartbeat of a node with a tiny lease), none delays a
-- judgment by more than a lease after the last one that began before that lease ran out.
-- (The process side: a process whose calls failed runs the watchdog only once one of its
-- heartbeats went through again, so the silence is on record before anybody is judged.)
--
-- Node loss (docs/backends/step-machine.md, the node-loss rule): a job taken back from a dead
-- node is lost once: lost_count + 1 (failed_count is left alone), ready again after the
-- step's retry delay, or failed for good when lost_count + 1 >= the step's maxNodeLosses
-- option (p_default_max for steps stored without it). Its error is the record p_lost completed by node_lost. Both
-- parameters of recover_expired come from src/backends/policy.ts and failures.ts.
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.
-- LANGUAGE sql bodies are checked at creation: they may call functions of earlier files only.


-- A step's maxNodeLosses: its option, or the default for steps stored before it existed (or
-- with something else than a usable number there: a cast would fail every recovery pass).
CREATE FUNCTION max_node_losses(p_options jsonb, p_default integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce((SELECT least(greatest(v, 1), 2147483647)::integer FROM json_bigint(p_options->'maxNodeLosses') AS v WHERE v IS NOT NULL), p_default)
$$;

-- The node-loss record of one lost job: p_lost (its code) with the step, the job (task seq or
-- hook) and the counts, this loss included.
CREATE FUNCTION node_lost(p_lost jsonb, p_step text, p_seq integer, p_lost_count integer, p_max integer) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_lost || jsonb_build_object('step', p_step)
    || CASE p_seq WHEN 0 THEN jsonb_build_object('hook', 'beforeAll')
                  WHEN 2147483647 THEN jsonb_build_object('hook', 'afterAll')
                  ELSE jsonb_build_object('task', p_seq) END
    || jsonb_build_object('lostCount', p_lost_count, 'maxNodeLosses', p_max)
$$;

-- The lease's gone bits with the given bit positions set.
CREATE FUNCTION gone_with(p_lease leases, p_bits integer[]) RETURNS bit varying LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_gone bit varying := coalesce(p_lease.gone, zeros(p_lease.hi - p_lease.lo + 1));
  v_bit integer;
BEGIN
  FOREACH v_bit IN ARRAY p_bits LOOP
    v_gone := set_bit(v_gone, v_bit, 1);
  END LOOP;
  RETURN v_gone;
END
$$;

-- Called by every heartbeat and registration before it dates its own row: records a silence
-- that ends now (once, however many nodes come back at the same time).
CREATE FUNCTION note_contact(p_lease_ms integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_last timestamptz;
  v_shortest integer;
BEGIN
  SELECT max(heartbeat_at) INTO v_last FROM nodes;
  IF v_last IS NULL THEN
    RETURN; -- no node: nobody to judge
  END IF;
  -- Half the shortest lease of the nodes alive when the silence began (and of the caller):
  -- a node that heartbeats every lease / 3 as it should never leaves such a gap.
  SELECT least(p_lease_ms, min(n.lease_ms)) INTO v_shortest FROM nodes n WHERE n.lease_expires_at > v_last;
  IF now() - v_last > (v_shortest / 2.0) * interval '1 millisecond' THEN
    UPDATE contact SET silence_began_at = v_last, silence_ended_at = now() WHERE id = 1 AND silence_ended_at < v_last;
  END IF;
END
$$;

-- Entry point: registers a node (again: a node declared dead comes back under a new pk).
CREATE FUNCTION register_node(p_id text, p_host text, p_pid integer, p_handlers jsonb, p_lease_ms integer, p_queues jsonb) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM note_contact(p_lease_ms);
  INSERT INTO nodes (id, host, pid, handlers, started_at, heartbeat_at, lease_expires_at, lease_ms, queues)
  VALUES (p_id, p_host, p_pid, p_handlers, ms_now(), ms_now(), now() + p_lease_ms * interval '1 millisecond', p_lease_ms, p_queues)
  ON CONFLICT (id) DO UPDATE
  SET heartbeat_at = EXCLUDED.heartbeat_at, lease_expires_at = EXCLUDED.lease_expires_at, lease_ms = EXCLUDED.lease_ms,
      handlers = EXCLUDED.handlers, queues = EXCLUDED.queues;
END
$$;

-- Entry point: extends a node's lease; false when the node was declared dead. With p_held
-- (after an ambiguous round trip), reconciles what it holds (reconcile_held, fenced by p_call).
CREATE FUNCTION heartbeat(p_node_id text, p_lease_ms integer, p_held_steps bigint[], p_held_seqs integer[], p_call bigint) RETURNS boolean
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_owner bigint;
BEGIN
  PERFORM note_contact(p_lease_ms);
  UPDATE nodes SET heartbeat_at = ms_now(), lease_expires_at = now() + p_lease_ms * interval '1 millisecond', lease_ms = p_lease_ms
  WHERE id = p_node_id
  RETURNING pk INTO v_owner;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF p_held_steps IS NULL THEN
    RETURN true;
  END IF;
  PERFORM begin_events();
  PERFORM reconcile_held(v_owner, p_node_id, p_held_steps, p_held_seqs, p_call);
  PERFORM flush_events();
  RETURN true;
END
$$;

-- Hands back the jobs leased to a node that it did not list in p_held, among those claimed by
-- calls up to p_fence (null: every call); no attempt is counted. Waits for the node's claims
-- in progress (they hold the shared lock) and makes later ones numbered up to p_fence claim
-- nothing. The caller started the events buffer.
CREATE FUNCTION reconcile_held(p_owner bigint, p_node_id text, p_held_steps bigint[], p_held_seqs integer[], p_fence bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_touched bigint[];
  v_step record;
BEGIN
  PERFORM pg_advisory_xact_lock(node_claims_key(p_node_id));
  UPDATE nodes SET reconciled_call = greatest(reconciled_call, p_fence) WHERE pk = p_owner;
  PERFORM 1 FROM leases WHERE owner = p_owner ORDER BY id FOR UPDATE;
  WITH held AS (
    SELECT * FROM unnest(p_held_steps, p_held_seqs) AS h(step_pk, seq)
  ), alone AS (
    UPDATE jobs j SET status = 'requeued', owner = NULL, run_at = NULL
    WHERE j.owner = p_owner AND j.status = 'leased' AND (p_fence IS NULL OR coalesce(j.claim_call, 0) <= p_fence)
      AND NOT EXISTS (SELECT 1 FROM held h WHERE h.step_pk = j.step_pk AND h.seq = j.seq)
    RETURNING j.step_pk
  ), released AS (
    SELECT l.id AS lease_id, j.step_pk, j.seq, j.seq - l.lo AS bit
    FROM leases l JOIN jobs j ON j.step_pk = l.step_pk AND j.seq BETWEEN l.lo AND l.hi
    WHERE l.owner = p_owner AND (p_fence IS NULL OR coalesce(l.claim_call, 0) <= p_fence)
      AND j.status = 'fresh' AND NOT lease_taken(l, j.seq)
      AND NOT EXISTS (SELECT 1 FROM held h WHERE h.step_pk = j.step_pk AND h.seq = j.seq)
  ), ranged AS (
    UPDATE jobs j SET status = 'requeued', run_at = NULL FROM released r
    WHERE j.step_pk = r.step_pk AND j.seq = r.seq AND j.status = 'fresh'
    RETURNING j.step_pk
  ), marked AS (
    UPDATE leases l SET gone = m.gone
    FROM (
      SELECT r.lease_id, gone_with(l2, array_agg(r.bit)) AS gone
      FROM released r JOIN leases l2 ON l2.id = r.lease_id GROUP BY r.lease_id, l2.id
    ) m
    WHERE l.id = m.lease_id
  )
  SELECT array_agg(DISTINCT t.step_pk) INTO v_touched FROM (SELECT * FROM alone UNION ALL SELECT * FROM ranged) t;
  FOR v_step IN SELECT workflow_id, id FROM steps WHERE pk = ANY(v_touched) ORDER BY pk LOOP
    PERFORM step_work(v_step.workflow_id, v_step.id);
  END LOOP;
END
$$;

-- Entry point: removes a node and hands back every job it still holds, no attempt counted.
CREATE FUNCTION unregister_node(p_node_id text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_owner bigint;
  v_touched bigint[];
  v_step record;
BEGIN
  PERFORM begin_events();
  DELETE FROM nodes WHERE id = p_node_id RETURNING pk INTO v_owner;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM 1 FROM leases WHERE owner = v_owner ORDER BY id FOR UPDATE;
  WITH ranged AS (
    UPDATE jobs j SET status = 'requeued', run_at = NULL
    FROM leases l
    WHERE l.owner = v_owner AND j.step_pk = l.step_pk AND j.seq BETWEEN l.lo AND l.hi AND j.status = 'fresh'
      AND NOT lease_taken(l, j.seq)
    RETURNING j.step_pk
  ), alone AS (
    UPDATE jobs j SET status = 'requeued', owner = NULL, run_at = NULL
    WHERE j.owner = v_owner AND j.status = 'leased'
    RETURNING j.step_pk
  )
  SELECT array_agg(DISTINCT t.step_pk) INTO v_touched FROM (SELECT * FROM alone UNION ALL SELECT * FROM ranged) t;
  DELETE FROM leases WHERE owner = v_owner;
  FOR v_step IN SELECT workflow_id, id FROM steps WHERE pk = ANY(v_touched) ORDER BY pk LOOP
    PERFORM step_work(v_step.workflow_id, v_step.id);
  END LOOP;
  PERFORM flush_events();
END
$$;

-- A dead node's range: its fresh tasks are lost together (p_lost), ready again or failed for
-- good by the node loss rule above. Touches the lease and the jobs; recover_expired applies
-- the counts (failing: the first failed task's {seq, error}).
CREATE FUNCTION recover_range(
  p_lease_id bigint, p_lost jsonb, p_default_max integer,
  OUT step_pk bigint, OUT failed integer, OUT failing jsonb, OUT retried integer
) LANGUAGE plpgsql AS $$
DECLARE
  v_lease leases;
  v_step steps;
  v_max integer;
BEGIN
  failed := 0;
  retried := 0;
  DELETE FROM leases WHERE id = p_lease_id RETURNING * INTO v_lease;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT * INTO v_step FROM steps WHERE pk = v_lease.step_pk;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  step_pk := v_step.pk;
  v_max := max_node_losses(v_step.options, p_default_max);
  -- The lease row was deleted (locked) by the statement above: the statements below see every
  -- completion of this range that committed before, and no later one can land.
  WITH gone AS (
    UPDATE jobs j SET status = 'failed', lost_count = j.lost_count + 1, finished_at = ms_now(),
      error = node_lost(p_lost, v_step.name, j.seq, j.lost_count + 1, v_max)
    WHERE j.step_pk = v_step.pk AND j.seq BETWEEN v_lease.lo AND v_lease.hi AND j.status = 'fresh'
      AND j.lost_count + 1 >= v_max AND NOT lease_taken(v_lease, j.seq)
    RETURNING j.seq, j.error
  )
  SELECT count(*), (array_agg(jsonb_build_object('seq', gone.seq, 'error', gone.error) ORDER BY gone.seq))[1]
  INTO failed, failing FROM gone;
  UPDATE jobs j
  SET status = 'requeued', lost_count = j.lost_count + 1,
      run_at = CASE WHEN v_step.retry_delay > 0 THEN now() + v_step.retry_delay * interval '1 millisecond' END,
      error = node_lost(p_lost, v_step.name, j.seq, j.lost_count + 1, v_max)
  WHERE j.step_pk = v_step.pk AND j.seq BETWEEN v_lease.lo AND v_lease.hi AND j.status = 'fresh'
    AND NOT lease_taken(v_lease, j.seq);
  GET DIAGNOSTICS retried = ROW_COUNT;
END
$$;

-- Entry point: the watchdog. Removes nodes that are dead (see the outage grace above) and
-- takes back up to p_limit of their jobs (and up to p_limit of their range leases), by the
-- node loss rule above (p_lost, p_default_max). Runs at most once per p_min_interval_ms across
-- all nodes (minus a little for timer jitter); a call that finds another node running it, or
-- finds it ran recently, does nothing.
CREATE FUNCTION recover_expired(
  p_limit integer, p_min_interval_ms integer, p_lost jsonb, p_default_max integer,
  OUT recovered integer, OUT nodes_removed integer, OUT events jsonb
) LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_ran_at timestamptz;
  v_silence contact;
  v_alone record;
  v_stale text[] := '{}';
  v_sum_steps bigint[];
  v_sum_done integer[];
  v_sum_failed integer[];
  v_sum_failing jsonb[];
  v_sum_hook boolean[];
  v_sum_work boolean[];
  v_lease bigint;
  v_range record;
  v_range_steps bigint[] := '{}';
  v_range_failed integer[] := '{}';
  v_range_failing jsonb[] := '{}';
  v_range_retried integer[] := '{}';
  v_step steps;
  v_workflows text[];
  v_workflow_id text;
BEGIN
  recovered := 0;
  nodes_removed := 0;
  events := '[]';
  SELECT ran_at INTO v_ran_at FROM watchdog WHERE id = 1 FOR UPDATE SKIP LOCKED;
  IF NOT FOUND OR v_ran_at > now() - (p_min_interval_ms * 0.8) * interval '1 millisecond' THEN
    RETURN;
  END IF;
  UPDATE watchdog SET ran_at = now() WHERE id = 1;
  PERFORM begin_events();
  -- Dead: its lease ran out, and if it ran out after the last silence began, a whole lease
  -- passed since that silence ended.
  SELECT * INTO v_silence FROM contact c WHERE c.id = 1;
  WITH dead AS (
    DELETE FROM nodes
    WHERE lease_expires_at < now()
      AND (lease_expires_at <= v_silence.silence_began_at OR v_silence.silence_ended_at + lease_ms * interval '1 millisecond' < now())
    RETURNING pk
  )
  SELECT count(*) INTO nodes_removed FROM dead;

  -- Jobs leased alone by nodes that are gone: one outcome each, fenced by their token.
  SELECT array_agg(o.step_pk) AS steps, array_agg(o.seq) AS seqs, array_agg(o.token) AS tokens,
         array_agg(CASE WHEN o.lost_count + 1 >= o.max_losses THEN 'L' ELSE 'l' END) AS kinds,
         array_agg(NULL::text) AS results,
         array_agg(node_lost(p_lost, o.name, o.seq, o.lost_count + 1, o.max_losses)) AS errors,
         array_agg(o.retry_delay) AS delays
  INTO v_alone
  FROM (
    SELECT j.step_pk, j.seq, j.token, j.lost_count, s.name, s.retry_delay, max_node_losses(s.options, p_default_max) AS max_losses
    FROM jobs j JOIN steps s ON s.pk = j.step_pk
    WHERE j.status = 'leased' AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.pk = j.owner)
    ORDER BY j.step_pk, j.seq
    LIMIT p_limit
  ) o;
  IF v_alone.steps IS NOT NULL THEN
    SELECT r.stale, r.step_pks, r.done, r.failed, r.failing, r.hook, r.work
    INTO v_stale, v_sum_steps, v_sum_done, v_sum_failed, v_sum_failing, v_sum_hook, v_sum_work
    FROM record_outcomes(v_alone.steps, v_alone.seqs, v_alone.tokens, v_alone.kinds, v_alone.results, v_alone.errors, v_alone.delays) r;
    recovered := array_length(v_alone.steps, 1) - coalesce(array_length(v_stale, 1), 0);
  END IF;

  -- Range leases of nodes that are gone.
  FOR v_lease IN SELECT l.id FROM leases l WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.pk = l.owner) ORDER BY l.id LIMIT p_limit LOOP
    SELECT * INTO v_range FROM recover_range(v_lease, p_lost, p_default_max);
    CONTINUE WHEN v_range.step_pk IS NULL OR v_range.failed + v_range.retried = 0;
    v_range_steps := v_range_steps || v_range.step_pk;
    v_range_failed := v_range_failed || v_range.failed;
    v_range_failing := array_append(v_range_failing, v_range.failing);
    v_range_retried := v_range_retried || v_range.retried;
    recovered := recovered + v_range.failed + v_range.retried;
  END LOOP;

  -- Counts and transitions, under the workflow locks.
  SELECT array_agg(DISTINCT s.workflow_id ORDER BY s.workflow_id) INTO v_workflows
  FROM steps s WHERE s.pk = ANY(coalesce(v_sum_steps, '{}') || v_range_steps);
  IF v_workflows IS NOT NULL THEN
    PERFORM 1 FROM workflows w WHERE w.id = ANY(v_workflows) ORDER BY w.id FOR UPDATE;
    IF v_sum_steps IS NOT NULL THEN
      PERFORM count_outcomes(v_sum_steps, v_sum_done, v_sum_failed, v_sum_failing, v_sum_hook, v_sum_work);
    END IF;
    FOR i IN 1..coalesce(array_length(v_range_steps, 1), 0) LOOP
      SELECT * INTO v_step FROM steps WHERE pk = v_range_steps[i];
      CONTINUE WHEN NOT FOUND;
      IF v_range_failed[i] > 0 THEN
        UPDATE steps
        SET failed = steps.failed + v_range_failed[i],
            failing = coalesce(steps.failing, v_range_failing[i])
        WHERE pk = v_step.pk;
        PERFORM step_advance(v_step.pk, '{}');
      END IF;
      IF v_range_retried[i] > 0 AND v_step.retry_delay = 0 THEN
        PERFORM step_work(v_step.workflow_id, v_step.id);
      END IF;
    END LOOP;
    FOREACH v_workflow_id IN ARRAY v_workflows LOOP
      PERFORM settle_workflow(v_workflow_id);
    END LOOP;
  END IF;
  events := flush_events();
END
$$;
