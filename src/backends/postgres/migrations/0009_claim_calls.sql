-- deflow PostgreSQL schema, version 9: claims are numbered, so a reconciling heartbeat hands
-- back only what the node could have listed.
--
-- After a round trip failed ambiguously, the node's next heartbeat lists the jobs it holds and
-- the jobs leased to it but not listed are handed back. The list is a snapshot taken when the
-- heartbeat was sent; a claim sent after it could commit first (another pool connection, a
-- reconnect, the heartbeat replayed through the pool after a timeout), and its jobs, which the
-- node was running, were handed back and ran a second time as the same attempt.
--
-- So every claim now carries the number of the call that made it (p_call, increasing in the
-- node's process), kept on its range lease or job (claim_call), and a reconciling heartbeat
-- carries the number of the last call the node had sent when it took the snapshot (the fence):
-- it hands back only jobs claimed by calls up to the fence. Every such call had been answered
-- (the node does not reconcile while a claim is in flight) or had failed on the node's side.
-- A failed call whose claim still runs on the server after the reconciliation (a "ghost") is
-- refused: the node row keeps the last fence (reconciled_call). Claims of a node take a shared
-- advisory lock on it and a reconciliation an exclusive one, so a claim in progress is either
-- seen by the reconciliation or sees its fence.

ALTER TABLE leases ADD COLUMN claim_call bigint;
ALTER TABLE jobs ADD COLUMN claim_call bigint;
ALTER TABLE nodes ADD COLUMN reconciled_call bigint;

DROP FUNCTION claim_jobs(text, text, text, integer);
DROP FUNCTION complete_jobs(
  text[], bigint[], integer[], bigint[], text[], text[], jsonb[], integer[],
  bigint[], bigint[], integer[], text[], integer[], text[], jsonb[],
  text[], text, text, text, integer, text, text[], integer
);
DROP FUNCTION adopt_steps(jsonb, text, text[], integer, text, text);
DROP FUNCTION claim_core(text, text, text, integer);
DROP FUNCTION heartbeat(text, integer, bigint[], integer[]);

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

-- Leases up to p_limit ready jobs of one step to a node (see 0005_claims.sql), for call p_call.
CREATE FUNCTION claim_core(
  p_node_id text, p_workflow_id text, p_step_id text, p_limit integer, p_call bigint,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens bigint[],
  OUT total integer, OUT watch boolean
) LANGUAGE plpgsql AS $$
DECLARE
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
BEGIN
  seqs := '{}';
  datas := '{}';
  failed := '{}';
  tokens := '{}';
  watch := false;
  SELECT pk, reconciled_call INTO v_owner, v_reconciled FROM nodes WHERE id = p_node_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'DFL01',
      MESSAGE = format('node %s is not registered any more (its lease expired); it must register again', p_node_id);
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

  IF v_step.stage IN ('before', 'after') THEN
    WITH claimed AS (
      UPDATE jobs j SET status = 'leased', owner = v_owner, token = j.token + 1, claim_call = p_call
      WHERE j.step_pk = v_step.pk AND j.seq = (CASE WHEN v_step.stage = 'before' THEN 0 ELSE 2147483647 END)
        AND j.status IN ('fresh', 'requeued') AND (j.run_at IS NULL OR j.run_at <= now())
      RETURNING j.seq, j.data, j.failed_count, j.token
    )
    SELECT array_agg(c.seq), array_agg(c.data), array_agg(c.failed_count), array_agg(c.token::bigint)
    INTO v_seqs, v_datas, v_failed, v_tokens FROM claimed c;
    IF v_seqs IS NOT NULL THEN
      seqs := v_seqs;
      datas := v_datas;
      failed := v_failed;
      tokens := v_tokens;
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
      RETURNING j.seq, j.data, j.failed_count, j.token
    )
    SELECT array_agg(c.seq ORDER BY c.seq), array_agg(c.data ORDER BY c.seq),
           array_agg(c.failed_count ORDER BY c.seq), array_agg(c.token::bigint ORDER BY c.seq)
    INTO v_seqs, v_datas, v_failed, v_tokens FROM claimed c;
    IF v_seqs IS NOT NULL THEN
      seqs := v_seqs;
      datas := v_datas;
      failed := v_failed;
      tokens := v_tokens;
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
          tokens := tokens || array_fill(-v_lease, ARRAY[array_length(v_seqs, 1)]);
        END IF;
      END IF;
    END IF;
  END IF;
  IF array_length(seqs, 1) > 0 THEN
    SELECT w.watch_next_task INTO watch FROM workflows w WHERE w.id = p_workflow_id;
  END IF;
END
$$;

-- Entry point: a claim on its own.
CREATE FUNCTION claim_jobs(
  p_node_id text, p_workflow_id text, p_step_id text, p_limit integer, p_call bigint,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens bigint[],
  OUT total integer, OUT watch boolean
) LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM lock_claims_shared(p_node_id);
  SELECT * INTO step_pk, seqs, datas, failed, tokens, total, watch
  FROM claim_core(p_node_id, p_workflow_id, p_step_id, p_limit, p_call);
END
$$;

-- Claims the first jobs of the steps the given events started (see 0006_completion.sql), for call p_call.
CREATE FUNCTION adopt_steps(
  p_events jsonb, p_node_id text, p_handlers text[], p_limit integer, p_skip_workflow_id text, p_skip_step_id text,
  p_call bigint
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_adopted jsonb := '[]';
  v_seen text[] := '{}';
  v_work record;
  v_step record;
  v_claim record;
BEGIN
  IF p_node_id IS NULL OR coalesce(cardinality(p_handlers), 0) = 0 THEN
    RETURN v_adopted;
  END IF;
  PERFORM 1 FROM nodes WHERE id = p_node_id;
  IF NOT FOUND THEN
    RETURN v_adopted;
  END IF;
  FOR v_work IN
    SELECT e.value->>'workflowId' AS workflow_id, e.value->>'stepId' AS step_id
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e(value, ord)
    WHERE e.value->>'type' = 'work'
    ORDER BY e.ord
  LOOP
    CONTINUE WHEN (v_work.workflow_id || E'\n' || v_work.step_id) = ANY(v_seen)
      OR (v_work.workflow_id = p_skip_workflow_id AND v_work.step_id = p_skip_step_id);
    v_seen := v_seen || (v_work.workflow_id || E'\n' || v_work.step_id);
    SELECT s.*, w.name AS workflow_name INTO v_step
    FROM steps s JOIN workflows w ON w.id = s.workflow_id
    WHERE s.workflow_id = v_work.workflow_id AND s.id = v_work.step_id;
    CONTINUE WHEN NOT FOUND OR v_step.status <> 'running' OR NOT (v_step.handler->>'key' = ANY(p_handlers));
    SELECT * INTO v_claim
    FROM claim_core(p_node_id, v_work.workflow_id, v_work.step_id, least(p_limit, (v_step.options->>'taskConcurrency')::integer), p_call);
    CONTINUE WHEN coalesce(cardinality(v_claim.seqs), 0) = 0;
    v_adopted := v_adopted || jsonb_build_array(jsonb_build_object(
      'step', jsonb_build_object(
        'workflowId', v_step.workflow_id, 'workflowName', v_step.workflow_name, 'stepId', v_step.id, 'name', v_step.name,
        'handler', v_step.handler, 'dataJson', v_step.data, 'options', v_step.options,
        'runIndex', coalesce(v_step.run_index, 0), 'parentId', v_step.parent_id
      ),
      'claim', jsonb_build_object(
        'step_pk', v_claim.step_pk::text, 'seqs', to_jsonb(v_claim.seqs), 'datas', to_jsonb(v_claim.datas),
        'failed', to_jsonb(v_claim.failed), 'tokens', to_jsonb(v_claim.tokens), 'total', v_claim.total, 'watch', v_claim.watch
      )
    ));
  END LOOP;
  RETURN v_adopted;
END
$$;

-- Entry point: records outcomes, fires the transitions, claims the next batch and adopts
-- started steps in one round trip (see 0006_completion.sql); its claims are call p_call.
CREATE FUNCTION complete_jobs(
  p_workflow_ids text[],
  p_steps bigint[], p_seqs integer[], p_tokens bigint[], p_kinds text[], p_results text[], p_errors jsonb[], p_retry_ms integer[],
  p_group_leases bigint[], p_group_steps bigint[], p_group_sizes integer[], p_group_masks text[],
  p_batch_seqs integer[], p_batch_results text[], p_batch_errors jsonb[],
  p_events text[],
  p_next_node_id text, p_next_workflow_id text, p_next_step_id text, p_next_limit integer,
  p_adopt_node_id text, p_adopt_handlers text[], p_adopt_limit integer, p_call bigint,
  OUT stale text[], OUT events jsonb,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens bigint[],
  OUT total integer, OUT watch boolean, OUT adopted jsonb
) LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_rows record;
  v_groups record;
  v_workflow_id text;
BEGIN
  -- Before any other lock (see reconcile_held): the claims below are this call's.
  PERFORM lock_claims_shared(p_next_node_id);
  PERFORM lock_claims_shared(p_adopt_node_id);
  PERFORM begin_events();
  IF cardinality(p_events) > 0 THEN
    PERFORM notify_lines(p_events);
  END IF;
  IF cardinality(p_group_leases) > 0 OR -1 >= ANY(p_tokens) THEN
    PERFORM lock_leases(p_tokens, p_group_leases);
  END IF;
  IF cardinality(p_group_leases) > 0 THEN
    SELECT * INTO v_groups FROM record_batches(p_group_leases, p_group_steps, p_group_sizes, p_group_masks,
                                               p_batch_seqs, p_batch_results, p_batch_errors);
  ELSE
    SELECT '{}'::text[] AS stale, '{}'::bigint[] AS step_pks, '{}'::integer[] AS done INTO v_groups;
  END IF;
  IF cardinality(p_steps) > 0 THEN
    SELECT * INTO v_rows FROM record_outcomes(p_steps, p_seqs, p_tokens, p_kinds, p_results, p_errors, p_retry_ms);
  ELSE
    SELECT '{}'::text[] AS stale, NULL::bigint[] AS step_pks, NULL::integer[] AS done, NULL::integer[] AS failed,
           NULL::jsonb[] AS failing, NULL::boolean[] AS hook, NULL::boolean[] AS work
    INTO v_rows;
  END IF;
  stale := v_groups.stale || v_rows.stale;
  IF cardinality(v_groups.step_pks) > 0 OR v_rows.step_pks IS NOT NULL THEN
    PERFORM 1 FROM workflows w WHERE w.id = ANY(p_workflow_ids) ORDER BY w.id FOR UPDATE;
    IF cardinality(v_groups.step_pks) > 0 THEN
      PERFORM count_outcomes(v_groups.step_pks, v_groups.done, array_fill(0, ARRAY[cardinality(v_groups.step_pks)]),
                             array_fill(NULL::jsonb, ARRAY[cardinality(v_groups.step_pks)]),
                             array_fill(false, ARRAY[cardinality(v_groups.step_pks)]),
                             array_fill(false, ARRAY[cardinality(v_groups.step_pks)]));
    END IF;
    IF v_rows.step_pks IS NOT NULL THEN
      PERFORM count_outcomes(v_rows.step_pks, v_rows.done, v_rows.failed, v_rows.failing, v_rows.hook, v_rows.work);
    END IF;
    FOREACH v_workflow_id IN ARRAY p_workflow_ids LOOP
      PERFORM settle_workflow(v_workflow_id);
    END LOOP;
  END IF;
  events := flush_events();
  IF p_next_step_id IS NOT NULL THEN
    SELECT c.step_pk, c.seqs, c.datas, c.failed, c.tokens, c.total, c.watch
    INTO step_pk, seqs, datas, failed, tokens, total, watch
    FROM claim_core(p_next_node_id, p_next_workflow_id, p_next_step_id, p_next_limit, p_call) c;
  END IF;
  adopted := adopt_steps(events, p_adopt_node_id, p_adopt_handlers, p_adopt_limit, p_next_workflow_id, p_next_step_id, p_call);
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

-- Entry point: extends a node's lease; false when the node was declared dead. With p_held
-- (after an ambiguous round trip), reconciles what it holds (reconcile_held, fenced by p_call).
CREATE FUNCTION heartbeat(p_node_id text, p_lease_ms integer, p_held_steps bigint[], p_held_seqs integer[], p_call bigint) RETURNS boolean
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_owner bigint;
BEGIN
  UPDATE nodes SET heartbeat_at = ms_now(), lease_expires_at = now() + p_lease_ms * interval '1 millisecond'
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
