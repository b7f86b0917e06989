-- deflow PostgreSQL schema, version 5: claiming and completing jobs.
--
-- Claims. Hook jobs and requeued tasks are leased alone: status 'leased', owner, and a fencing
-- token bumped on every claim; requeued tasks are picked with FOR UPDATE SKIP LOCKED, so
-- racing claims never wait for each other and never pick the same row. Fresh tasks are
-- leased as a range: the step's fresh_cursor moves forward under the step's row lock and
-- one leases row records (owner, lo..hi); no per-task write happens at claim time.
--
-- Fencing at completion: a job leased alone is completed with its token and must still be
-- 'leased' with that token; a job leased in a range is completed with token 0 and must still
-- be 'fresh' (recovery, release and reconciliation all move it out of 'fresh').

-- Leases up to p_limit ready jobs of one step to a node. Raises DFL01 when the node is not
-- registered (any more): it was declared dead and must register again.
CREATE FUNCTION claim_core(
  p_node_id text, p_workflow_id text, p_step_id text, p_limit integer,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens integer[],
  OUT total integer, OUT watch boolean
) LANGUAGE plpgsql AS $$
DECLARE
  v_owner bigint;
  v_step steps;
  v_room integer;
  v_lo integer;
  v_hi integer;
  v_cursor integer;
  v_next integer;
  v_seqs integer[];
  v_datas text[];
  v_failed integer[];
  v_tokens integer[];
BEGIN
  seqs := '{}';
  datas := '{}';
  failed := '{}';
  tokens := '{}';
  watch := false;
  SELECT pk INTO v_owner FROM nodes WHERE id = p_node_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'DFL01',
      MESSAGE = format('node %s is not registered any more (its lease expired); it must register again', p_node_id);
  END IF;
  SELECT * INTO v_step FROM steps s WHERE s.workflow_id = p_workflow_id AND s.id = p_step_id;
  total := coalesce(v_step.total, 0);
  step_pk := v_step.pk;
  IF NOT FOUND OR v_step.status <> 'running' OR p_limit < 1 THEN
    RETURN;
  END IF;

  IF v_step.stage IN ('before', 'after') THEN
    WITH claimed AS (
      UPDATE jobs j SET status = 'leased', owner = v_owner, token = j.token + 1
      WHERE j.step_pk = v_step.pk AND j.seq = CASE WHEN v_step.stage = 'before' THEN 0 ELSE 2147483647 END
        AND j.status IN ('fresh', 'requeued') AND (j.run_at IS NULL OR j.run_at <= now())
      RETURNING j.seq, j.data, j.failed_count, j.token
    )
    SELECT array_agg(c.seq), array_agg(c.data), array_agg(c.failed_count), array_agg(c.token)
    INTO v_seqs, v_datas, v_failed, v_tokens FROM claimed c;
  ELSIF v_step.stage = 'tasks' THEN
    -- Jobs back in the queue (retried, handed back, recovered) are leased one by one.
    WITH picked AS (
      SELECT r.seq FROM jobs r
      WHERE r.step_pk = v_step.pk AND r.status = 'requeued' AND (r.run_at IS NULL OR r.run_at <= now())
      ORDER BY r.seq
      LIMIT p_limit
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE jobs j SET status = 'leased', owner = v_owner, token = j.token + 1
      FROM picked WHERE j.step_pk = v_step.pk AND j.seq = picked.seq
      RETURNING j.seq, j.data, j.failed_count, j.token
    )
    SELECT array_agg(c.seq ORDER BY c.seq), array_agg(c.data ORDER BY c.seq),
           array_agg(c.failed_count ORDER BY c.seq), array_agg(c.token ORDER BY c.seq)
    INTO v_seqs, v_datas, v_failed, v_tokens FROM claimed c;
    IF v_seqs IS NOT NULL THEN
      seqs := v_seqs;
      datas := v_datas;
      failed := v_failed;
      tokens := v_tokens;
    END IF;
    v_room := p_limit - coalesce(array_length(seqs, 1), 0);
    IF v_room > 0 AND v_step.fresh_cursor < v_step.next_seq THEN
      -- The row lock serialises range claims of this step; it is re-read under the lock.
      SELECT s.fresh_cursor, s.next_seq INTO v_cursor, v_next FROM steps s
      WHERE s.pk = v_step.pk AND s.status = 'running' AND s.stage = 'tasks'
      FOR UPDATE;
      IF FOUND AND v_cursor < v_next THEN
        v_lo := v_cursor + 1;
        v_hi := least(v_cursor + v_room, v_next);
        UPDATE steps SET fresh_cursor = v_hi WHERE pk = v_step.pk;
        INSERT INTO leases (owner, step_pk, lo, hi) VALUES (v_owner, v_step.pk, v_lo, v_hi);
        SELECT array_agg(j.seq ORDER BY j.seq), array_agg(j.data ORDER BY j.seq)
        INTO v_seqs, v_datas
        FROM jobs j WHERE j.step_pk = v_step.pk AND j.seq BETWEEN v_lo AND v_hi AND j.status = 'fresh';
        IF v_seqs IS NOT NULL THEN
          seqs := seqs || v_seqs;
          datas := datas || v_datas;
          failed := failed || array_fill(0, ARRAY[array_length(v_seqs, 1)]);
          tokens := tokens || array_fill(0, ARRAY[array_length(v_seqs, 1)]);
        END IF;
      END IF;
    END IF;
    v_seqs := NULL;
  END IF;
  IF v_seqs IS NOT NULL THEN
    seqs := v_seqs;
    datas := v_datas;
    failed := v_failed;
    tokens := v_tokens;
  END IF;
  IF array_length(seqs, 1) > 0 THEN
    SELECT w.watch_next_task INTO watch FROM workflows w WHERE w.id = p_workflow_id;
  END IF;
END
$$;

-- Entry point: a claim on its own.
CREATE FUNCTION claim_jobs(
  p_node_id text, p_workflow_id text, p_step_id text, p_limit integer,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens integer[],
  OUT total integer, OUT watch boolean
) LANGUAGE sql SET search_path FROM CURRENT AS $$
  SELECT * FROM claim_core(p_node_id, p_workflow_id, p_step_id, p_limit)
$$;

-- Records fenced outcomes on their jobs (kind s = succeeded, r = retry later, f = failed for
-- good) and sums them up per step. Touches jobs only, so completions of different nodes run
-- in parallel; count_outcomes applies the sums under the workflow locks.
CREATE FUNCTION record_outcomes(
  p_steps bigint[], p_seqs integer[], p_tokens integer[], p_kinds text[], p_results text[], p_errors jsonb[], p_retry_ms integer[],
  OUT stale text[], OUT step_pks bigint[], OUT done integer[], OUT failed integer[], OUT failing jsonb[],
  OUT hook boolean[], OUT work boolean[]
) LANGUAGE plpgsql AS $$
BEGIN
  WITH outcome AS (
    SELECT * FROM unnest(p_steps, p_seqs, p_tokens, p_kinds, p_results, p_errors, p_retry_ms)
      AS o(step_pk, seq, token, kind, result, error, retry_ms)
  ), applied AS (
    UPDATE jobs j SET
      status = (CASE o.kind WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' ELSE 'requeued' END)::job_state,
      result = CASE WHEN o.kind = 's' THEN o.result END,
      error = o.error,
      failed_count = j.failed_count + CASE WHEN o.kind = 's' THEN 0 ELSE 1 END,
      finished_at = CASE WHEN o.kind = 'r' THEN NULL ELSE ms_now() END,
      run_at = CASE WHEN o.kind = 'r' AND o.retry_ms > 0 THEN now() + o.retry_ms * interval '1 millisecond' END,
      owner = NULL
    FROM outcome o
    WHERE j.step_pk = o.step_pk AND j.seq = o.seq
      AND ((o.token = 0 AND j.status = 'fresh') OR (o.token > 0 AND j.status = 'leased' AND j.token = o.token))
    RETURNING j.step_pk, j.seq, o.kind, o.error, o.retry_ms
  ), per_step AS (
    SELECT a.step_pk,
           count(*) FILTER (WHERE a.kind = 's' AND a.seq BETWEEN 1 AND 2147483646)::integer AS done,
           count(*) FILTER (WHERE a.kind = 'f' AND a.seq BETWEEN 1 AND 2147483646)::integer AS failed,
           (array_agg(jsonb_build_object('seq', a.seq, 'error', a.error) ORDER BY a.seq)
              FILTER (WHERE a.kind = 'f' AND a.seq BETWEEN 1 AND 2147483646))[1] AS failing,
           bool_or(a.seq = 0 OR a.seq = 2147483647) AS hook,
           bool_or(a.kind = 'r' AND coalesce(a.retry_ms, 0) = 0) AS work
    FROM applied a GROUP BY a.step_pk
  ), refused AS (
    SELECT o.step_pk, o.seq FROM outcome o LEFT JOIN applied a ON a.step_pk = o.step_pk AND a.seq = o.seq
    WHERE a.seq IS NULL
  )
  SELECT coalesce((SELECT array_agg(r.step_pk || '.' || r.seq) FROM refused r), '{}'),
         array_agg(p.step_pk ORDER BY p.step_pk), array_agg(p.done ORDER BY p.step_pk), array_agg(p.failed ORDER BY p.step_pk),
         array_agg(p.failing ORDER BY p.step_pk), array_agg(p.hook ORDER BY p.step_pk), array_agg(p.work ORDER BY p.step_pk)
  INTO stale, step_pks, done, failed, failing, hook, work
  FROM per_step p;
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

-- Entry point: records outcomes, publishes the given nextTask events first, fires the
-- transitions, and optionally claims the next batch of a step, all in one round trip.
-- Lock order: the outcomes' jobs, then their workflows (p_workflow_ids, locked sorted), then steps.
CREATE FUNCTION complete_jobs(
  p_workflow_ids text[],
  p_steps bigint[], p_seqs integer[], p_tokens integer[], p_kinds text[], p_results text[], p_errors jsonb[], p_retry_ms integer[],
  p_events text[],
  p_next_node_id text, p_next_workflow_id text, p_next_step_id text, p_next_limit integer,
  OUT stale text[], OUT events jsonb,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens integer[],
  OUT total integer, OUT watch boolean
) LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_sums record;
  v_workflow_id text;
BEGIN
  PERFORM begin_events();
  PERFORM notify_lines(p_events);
  stale := '{}';
  IF coalesce(array_length(p_steps, 1), 0) > 0 THEN
    SELECT * INTO v_sums FROM record_outcomes(p_steps, p_seqs, p_tokens, p_kinds, p_results, p_errors, p_retry_ms);
    stale := v_sums.stale;
    IF v_sums.step_pks IS NOT NULL THEN
      PERFORM 1 FROM workflows w WHERE w.id = ANY(p_workflow_ids) ORDER BY w.id FOR UPDATE;
      PERFORM count_outcomes(v_sums.step_pks, v_sums.done, v_sums.failed, v_sums.failing, v_sums.hook, v_sums.work);
      FOREACH v_workflow_id IN ARRAY p_workflow_ids LOOP
        PERFORM settle_workflow(v_workflow_id);
      END LOOP;
    END IF;
  END IF;
  events := flush_events();
  IF p_next_step_id IS NOT NULL THEN
    SELECT c.step_pk, c.seqs, c.datas, c.failed, c.tokens, c.total, c.watch
    INTO step_pk, seqs, datas, failed, tokens, total, watch
    FROM claim_core(p_next_node_id, p_next_workflow_id, p_next_step_id, p_next_limit) c;
  END IF;
END
$$;

-- Entry point: hands claimed, never-started jobs back; no attempt is counted.
CREATE FUNCTION release_jobs(p_steps bigint[], p_seqs integer[], p_tokens integer[]) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_step record;
BEGIN
  PERFORM begin_events();
  FOR v_step IN
    WITH released AS (
      UPDATE jobs j SET status = 'requeued', owner = NULL, run_at = NULL
      FROM unnest(p_steps, p_seqs, p_tokens) AS o(step_pk, seq, token)
      WHERE j.step_pk = o.step_pk AND j.seq = o.seq
        AND ((o.token = 0 AND j.status = 'fresh') OR (o.token > 0 AND j.status = 'leased' AND j.token = o.token))
      RETURNING j.step_pk
    )
    SELECT s.workflow_id, s.id FROM steps s WHERE s.pk IN (SELECT r.step_pk FROM released r) ORDER BY s.pk
  LOOP
    PERFORM step_work(v_step.workflow_id, v_step.id);
  END LOOP;
  PERFORM flush_events();
END
$$;
