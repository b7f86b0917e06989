-- deflow PostgreSQL functions: completions and hand-backs.
--
-- A job leased alone must still be 'leased' with its token. A job of a range needs its lease
-- row (locked first, in a statement of its own, so the statements after it see whatever the
-- previous holder committed) and must be neither done nor gone in it. Successes of a range
-- arrive grouped per lease (seqs sorted, plus a bit mask of them from the lowest seq on): one
-- results row and one lease update per group, whatever its size. Every other outcome is
-- written on the job's row. An outcome for a step that no longer exists (its workflow was
-- removed; its jobs and lease rows may outlive it for a while) is refused like any stale one.
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.
-- LANGUAGE sql bodies are checked at creation: they may call functions of earlier files only.


-- A bit string of n zeros.
CREATE FUNCTION zeros(p_n integer) RETURNS bit varying LANGUAGE sql IMMUTABLE AS $$
  SELECT repeat('0', p_n)::bit varying
$$;

-- Done or gone in its lease: the task is not the owner's to complete any more.
CREATE FUNCTION lease_taken(p_lease leases, p_seq integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT (p_lease.done IS NOT NULL AND get_bit(p_lease.done, p_seq - p_lease.lo) = 1)
      OR (p_lease.gone IS NOT NULL AND get_bit(p_lease.gone, p_seq - p_lease.lo) = 1)
$$;

-- Locks range leases, in id order: those named by negative tokens and those listed.
CREATE FUNCTION lock_leases(p_tokens bigint[], p_ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM leases
  WHERE id IN (SELECT -t FROM unnest(p_tokens) AS t WHERE t < 0 UNION SELECT i FROM unnest(p_ids) AS i)
  ORDER BY id FOR UPDATE;
END
$$;

-- Records outcomes one row each (kind s = succeeded, r = retry later, f = failed for good;
-- node losses, counted in lost_count instead of failed_count: l = retry later, L = failed
-- for good): jobs leased alone, fenced by token, and outcomes of range jobs other
-- than grouped successes, fenced by their lease (the caller locked it). Sums them up per step.
-- stale: ids ("<step_pk>.<seq>") of the refused outcomes.
CREATE FUNCTION record_outcomes(
  p_steps bigint[], p_seqs integer[], p_tokens bigint[], p_kinds text[], p_results text[], p_errors jsonb[], p_retry_ms integer[],
  OUT stale text[], OUT step_pks bigint[], OUT done integer[], OUT failed integer[], OUT failing jsonb[],
  OUT hook boolean[], OUT work boolean[]
) LANGUAGE plpgsql AS $$
DECLARE
  v_n integer := coalesce(array_length(p_steps, 1), 0);
  v_applied bigint[] := '{}';
  v_lease leases;
BEGIN
  -- Range jobs (rare here: failures, retries): checked and marked gone in their lease.
  FOR i IN 1..v_n LOOP
    CONTINUE WHEN p_tokens[i] >= 0;
    SELECT * INTO v_lease FROM leases WHERE id = -p_tokens[i];
    CONTINUE WHEN NOT FOUND OR v_lease.step_pk <> p_steps[i] OR p_seqs[i] NOT BETWEEN v_lease.lo AND v_lease.hi
      OR lease_taken(v_lease, p_seqs[i]) OR NOT EXISTS (SELECT 1 FROM steps s WHERE s.pk = v_lease.step_pk);
    UPDATE jobs SET
      status = (CASE WHEN p_kinds[i] = 's' THEN 'succeeded' WHEN p_kinds[i] IN ('f', 'L') THEN 'failed' ELSE 'requeued' END)::job_state,
      result = CASE WHEN p_kinds[i] = 's' THEN p_results[i] END,
      error = p_errors[i],
      failed_count = failed_count + CASE WHEN p_kinds[i] IN ('r', 'f') THEN 1 ELSE 0 END,
      lost_count = lost_count + CASE WHEN p_kinds[i] IN ('l', 'L') THEN 1 ELSE 0 END,
      finished_at = CASE WHEN p_kinds[i] IN ('r', 'l') THEN NULL ELSE ms_now() END,
      run_at = CASE WHEN p_kinds[i] IN ('r', 'l') AND p_retry_ms[i] > 0 THEN now() + p_retry_ms[i] * interval '1 millisecond' END
    WHERE step_pk = p_steps[i] AND seq = p_seqs[i] AND status = 'fresh';
    CONTINUE WHEN NOT FOUND;
    UPDATE leases SET gone = set_bit(coalesce(gone, zeros(hi - lo + 1)), p_seqs[i] - lo, 1) WHERE id = v_lease.id;
    v_applied := v_applied || i::bigint;
  END LOOP;

  WITH outcome AS (
    SELECT * FROM unnest(p_steps, p_seqs, p_tokens, p_kinds, p_results, p_errors, p_retry_ms) WITH ORDINALITY
      AS o(step_pk, seq, token, kind, result, error, retry_ms, idx)
  ), alone AS (
    UPDATE jobs j SET
      status = (CASE WHEN o.kind = 's' THEN 'succeeded' WHEN o.kind IN ('f', 'L') THEN 'failed' ELSE 'requeued' END)::job_state,
      result = CASE WHEN o.kind = 's' THEN o.result END,
      error = o.error,
      failed_count = j.failed_count + CASE WHEN o.kind IN ('r', 'f') THEN 1 ELSE 0 END,
      lost_count = j.lost_count + CASE WHEN o.kind IN ('l', 'L') THEN 1 ELSE 0 END,
      finished_at = CASE WHEN o.kind IN ('r', 'l') THEN NULL ELSE ms_now() END,
      run_at = CASE WHEN o.kind IN ('r', 'l') AND o.retry_ms > 0 THEN now() + o.retry_ms * interval '1 millisecond' END,
      owner = NULL
    FROM outcome o
    -- status compared as text: the partial indexes on leased jobs must not match, or a plan
    -- cached with stale statistics scans every leased job of the step per outcome instead of
    -- probing the primary key (quadratic on a limited step's thousand leased tasks).
    WHERE o.token > 0 AND j.step_pk = o.step_pk AND j.seq = o.seq AND j.status::text = 'leased' AND j.token = o.token
      AND EXISTS (SELECT 1 FROM steps s WHERE s.pk = o.step_pk)
    RETURNING o.idx
  ), applied AS (
    SELECT o.* FROM outcome o WHERE o.idx = ANY(v_applied) OR o.idx IN (SELECT a.idx FROM alone a)
  ), per_step AS (
    SELECT a.step_pk,
           count(*) FILTER (WHERE a.kind = 's' AND a.seq BETWEEN 1 AND 2147483646)::integer AS done,
           count(*) FILTER (WHERE a.kind IN ('f', 'L') AND a.seq BETWEEN 1 AND 2147483646)::integer AS failed,
           (array_agg(jsonb_build_object('seq', a.seq, 'error', a.error) ORDER BY a.seq)
              FILTER (WHERE a.kind IN ('f', 'L') AND a.seq BETWEEN 1 AND 2147483646))[1] AS failing,
           bool_or(a.seq = 0 OR a.seq = 2147483647) AS hook,
           bool_or(a.kind IN ('r', 'l') AND coalesce(a.retry_ms, 0) = 0) AS work
    FROM applied a GROUP BY a.step_pk
  )
  SELECT coalesce((SELECT array_agg(o.step_pk || '.' || o.seq ORDER BY o.idx) FROM outcome o
                   WHERE o.idx NOT IN (SELECT a.idx FROM applied a)), '{}'),
         array_agg(p.step_pk ORDER BY p.step_pk), array_agg(p.done ORDER BY p.step_pk), array_agg(p.failed ORDER BY p.step_pk),
         array_agg(p.failing ORDER BY p.step_pk), array_agg(p.hook ORDER BY p.step_pk), array_agg(p.work ORDER BY p.step_pk)
  INTO stale, step_pks, done, failed, failing, hook, work
  FROM per_step p;
END
$$;

-- Records the grouped successes of range jobs: group g is lease p_leases[g] of step
-- p_steps[g], p_sizes[g] tasks whose seqs (ascending), results and side errors follow in the
-- flat arrays, and p_masks[g] has a 1 for each of them from the lowest seq on. The caller
-- locked the leases. A seq done or gone already (a replayed batch) is refused, the rest kept.
CREATE FUNCTION record_batches(
  p_leases bigint[], p_steps bigint[], p_sizes integer[], p_masks text[], p_seqs integer[], p_results text[], p_errors jsonb[],
  OUT stale text[], OUT step_pks bigint[], OUT done integer[]
) LANGUAGE plpgsql AS $$
DECLARE
  v_offset integer := 0;
  v_n integer;
  v_lease leases;
  v_seqs integer[];
  v_results text[];
  v_errors jsonb[];
  v_mask bit varying;
  v_taken bit varying;
  v_at integer;
BEGIN
  stale := '{}';
  step_pks := '{}';
  done := '{}';
  FOR g IN 1..coalesce(array_length(p_leases, 1), 0) LOOP
    v_n := p_sizes[g];
    v_seqs := p_seqs[v_offset + 1 : v_offset + v_n];
    v_results := p_results[v_offset + 1 : v_offset + v_n];
    v_errors := p_errors[v_offset + 1 : v_offset + v_n];
    v_offset := v_offset + v_n;
    SELECT * INTO v_lease FROM leases WHERE id = p_leases[g];
    IF NOT FOUND OR v_lease.step_pk <> p_steps[g] OR v_seqs[1] < v_lease.lo OR v_seqs[v_n] > v_lease.hi
       OR NOT EXISTS (SELECT 1 FROM steps s WHERE s.pk = v_lease.step_pk) THEN
      stale := stale || ARRAY(SELECT p_steps[g] || '.' || s FROM unnest(v_seqs) AS s);
      CONTINUE;
    END IF;
    v_mask := (repeat('0', v_seqs[1] - v_lease.lo) || p_masks[g] || repeat('0', v_lease.hi - v_seqs[v_n]))::bit varying;
    IF length(v_mask) <> v_lease.hi - v_lease.lo + 1 OR bit_count(v_mask) <> v_n THEN
      -- An assertion on packOutcomes (packing.ts), not a refusal: only a deflow bug gets here.
      RAISE EXCEPTION 'malformed completion batch for lease %', v_lease.id;
    END IF;
    v_taken := coalesce(v_lease.done, zeros(length(v_mask))) | coalesce(v_lease.gone, zeros(length(v_mask)));
    IF bit_count(v_taken & v_mask) > 0 THEN
      stale := stale || ARRAY(SELECT p_steps[g] || '.' || s FROM unnest(v_seqs) AS s WHERE get_bit(v_taken, s - v_lease.lo) = 1);
      SELECT coalesce(array_agg(u.seq ORDER BY u.seq), '{}'), array_agg(u.result ORDER BY u.seq), array_agg(u.error ORDER BY u.seq)
      INTO v_seqs, v_results, v_errors
      FROM unnest(v_seqs, v_results, v_errors) AS u(seq, result, error)
      WHERE get_bit(v_taken, u.seq - v_lease.lo) = 0;
      v_mask := v_mask & ~v_taken;
      v_n := coalesce(array_length(v_seqs, 1), 0);
      CONTINUE WHEN v_n = 0;
    END IF;
    UPDATE leases SET done = coalesce(leases.done, zeros(length(v_mask))) | v_mask WHERE id = v_lease.id;
    INSERT INTO results (lease_id, step_pk, lo, hi, seqs, results, errors, finished_at)
    VALUES (v_lease.id, v_lease.step_pk, v_seqs[1], v_seqs[v_n], v_seqs, v_results,
            CASE WHEN p_errors IS NULL THEN NULL ELSE v_errors END, ms_now());
    v_at := array_position(step_pks, v_lease.step_pk);
    IF v_at IS NULL THEN
      step_pks := step_pks || v_lease.step_pk;
      done := done || v_n;
    ELSE
      done[v_at] := done[v_at] + v_n;
    END IF;
  END LOOP;
END
$$;

-- Applies the per-step sums of record_outcomes and advances the steps they touched.
-- The caller holds the locks of the steps' workflows.
CREATE FUNCTION count_outcomes(
  p_step_pks bigint[], p_done integer[], p_failed integer[], p_failing jsonb[], p_hook boolean[], p_work boolean[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_step record;
BEGIN
  FOR i IN 1..coalesce(array_length(p_step_pks, 1), 0) LOOP
    IF p_done[i] > 0 OR p_failed[i] > 0 THEN
      UPDATE steps
      SET done = steps.done + p_done[i], failed = steps.failed + p_failed[i], failing = coalesce(steps.failing, p_failing[i])
      WHERE pk = p_step_pks[i];
    END IF;
    IF p_work[i] THEN
      SELECT workflow_id, id INTO v_step FROM steps WHERE pk = p_step_pks[i];
      IF FOUND THEN
        PERFORM step_work(v_step.workflow_id, v_step.id);
      END IF;
    END IF;
    IF p_done[i] > 0 OR p_failed[i] > 0 OR p_hook[i] THEN
      PERFORM step_advance(p_step_pks[i], '{}');
    END IF;
  END LOOP;
END
$$;

-- Claims the first jobs of the steps that the given events say became runnable (work
-- events of this transaction), for a node that has their handlers loaded and serves their
-- queue (p_queues; null: the default queue): a chain's next
-- step starts in the round trip that finished the previous one. Skips p_skip (the step the
-- caller claims anyway) and does nothing for a node that is not registered. Its claims are
-- call p_call.
CREATE FUNCTION adopt_steps(
  p_events jsonb, p_node_id text, p_handlers text[], p_limit integer, p_skip_workflow_id text, p_skip_step_id text,
  p_call bigint, p_queues text[]
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
    CONTINUE WHEN NOT FOUND OR v_step.status <> 'running' OR NOT (v_step.handler->>'key' = ANY(p_handlers))
      OR NOT (v_step.queue = ANY(coalesce(p_queues, ARRAY['default'])));
    -- A limited step (a keyed rate limit too) is claimed by its own runner: its bucket locks come
    -- after every row lock.
    CONTINUE WHEN v_step.global_limit IS NOT NULL OR v_step.key_limit IS NOT NULL
      OR jsonb_typeof(v_step.options->'rateLimitKey') IS NOT DISTINCT FROM 'string';
    SELECT * INTO v_claim
    FROM claim_core(p_node_id, v_work.workflow_id, v_work.step_id, least(p_limit::bigint, json_bigint(v_step.options->'taskConcurrency'))::integer, p_call, false);
    CONTINUE WHEN coalesce(cardinality(v_claim.seqs), 0) = 0;
    v_adopted := v_adopted || jsonb_build_array(jsonb_build_object(
      'step', jsonb_build_object(
        'workflowId', v_step.workflow_id, 'workflowName', v_step.workflow_name, 'stepId', v_step.id, 'name', v_step.name,
        'handler', v_step.handler, 'dataJson', v_step.data, 'options', v_step.options,
        'runIndex', coalesce(v_step.run_index, 0), 'parentId', v_step.parent_id
      ),
      'claim', jsonb_build_object(
        'step_pk', v_claim.step_pk::text, 'seqs', to_jsonb(v_claim.seqs), 'datas', to_jsonb(v_claim.datas),
        'failed', to_jsonb(v_claim.failed), 'tokens', to_jsonb(v_claim.tokens), 'total', v_claim.total, 'watch', v_claim.watch,
        'lost', to_jsonb(v_claim.lost), 'rate_limited_ms', v_claim.rate_limited_ms,
        'unknown_rate_limit', v_claim.unknown_rate_limit
      )
    ));
  END LOOP;
  RETURN v_adopted;
END
$$;

-- Entry point: records outcomes, publishes the given nextTask events first, fires the
-- transitions, optionally claims the next batch of a step and adopts the steps these
-- transitions started (adopt_steps), all in one round trip; its claims are call p_call.
-- Outcomes come as rows (p_steps..p_retry_ms) and as grouped range successes
-- (p_group_*, p_batch_*: see record_batches). Lock order: leases, jobs, then the outcomes'
-- workflows (p_workflow_ids, locked in id order), then steps.
CREATE FUNCTION complete_jobs(
  p_workflow_ids text[],
  p_steps bigint[], p_seqs integer[], p_tokens bigint[], p_kinds text[], p_results text[], p_errors jsonb[], p_retry_ms integer[],
  p_group_leases bigint[], p_group_steps bigint[], p_group_sizes integer[], p_group_masks text[],
  p_batch_seqs integer[], p_batch_results text[], p_batch_errors jsonb[],
  p_events text[],
  p_next_node_id text, p_next_workflow_id text, p_next_step_id text, p_next_limit integer,
  p_adopt_node_id text, p_adopt_handlers text[], p_adopt_limit integer, p_call bigint, p_adopt_queues text[],
  OUT stale text[], OUT events jsonb,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens bigint[],
  OUT total integer, OUT watch boolean, OUT adopted jsonb, OUT lost integer[],
  OUT rate_limited_ms bigint, OUT unknown_rate_limit text
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
    SELECT c.step_pk, c.seqs, c.datas, c.failed, c.tokens, c.total, c.watch, c.lost, c.rate_limited_ms, c.unknown_rate_limit
    INTO step_pk, seqs, datas, failed, tokens, total, watch, lost, rate_limited_ms, unknown_rate_limit
    FROM claim_core(p_next_node_id, p_next_workflow_id, p_next_step_id, p_next_limit, p_call, false) c;
  END IF;
  adopted := adopt_steps(events, p_adopt_node_id, p_adopt_handlers, p_adopt_limit, p_next_workflow_id, p_next_step_id, p_call, p_adopt_queues);
END
$$;

-- Entry point: hands claimed, never-started jobs back; no attempt is counted.
CREATE FUNCTION release_jobs(p_steps bigint[], p_seqs integer[], p_tokens bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_lease leases;
  v_touched bigint[] := '{}';
  v_step record;
BEGIN
  PERFORM begin_events();
  PERFORM lock_leases(p_tokens, '{}');
  FOR i IN 1..coalesce(array_length(p_steps, 1), 0) LOOP
    IF p_tokens[i] > 0 THEN
      UPDATE jobs SET status = 'requeued', owner = NULL, run_at = NULL
      WHERE step_pk = p_steps[i] AND seq = p_seqs[i] AND status = 'leased' AND token = p_tokens[i];
    ELSE
      SELECT * INTO v_lease FROM leases WHERE id = -p_tokens[i];
      CONTINUE WHEN NOT FOUND OR v_lease.step_pk <> p_steps[i] OR p_seqs[i] NOT BETWEEN v_lease.lo AND v_lease.hi
        OR lease_taken(v_lease, p_seqs[i]);
      UPDATE jobs SET status = 'requeued', run_at = NULL WHERE step_pk = p_steps[i] AND seq = p_seqs[i] AND status = 'fresh';
      IF FOUND THEN
        UPDATE leases SET gone = set_bit(coalesce(gone, zeros(hi - lo + 1)), p_seqs[i] - lo, 1) WHERE id = v_lease.id;
      END IF;
    END IF;
    IF FOUND AND NOT p_steps[i] = ANY(v_touched) THEN
      v_touched := v_touched || p_steps[i];
    END IF;
  END LOOP;
  FOR v_step IN SELECT workflow_id, id FROM steps WHERE pk = ANY(v_touched) ORDER BY pk LOOP
    PERFORM step_work(v_step.workflow_id, v_step.id);
  END LOOP;
  PERFORM flush_events();
END
$$;
