-- deflow PostgreSQL schema, version 5: claims.
--
-- Hook jobs and requeued tasks are leased alone: status 'leased', owner, and a fencing token
-- (positive) bumped on every claim; requeued tasks are picked with FOR UPDATE SKIP LOCKED, so
-- racing claims never wait for each other and never pick the same row. Fresh tasks are leased
-- as a range: the step's fresh_cursor moves forward under the step's row lock and one leases
-- row records (owner, lo..hi); their fencing token is minus the lease id. No per-task write
-- happens at claim time.

-- Leases up to p_limit ready jobs of one step to a node. Raises DFL01 when the node is not
-- registered (any more): it was declared dead and must register again.
CREATE FUNCTION claim_core(
  p_node_id text, p_workflow_id text, p_step_id text, p_limit integer,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens bigint[],
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
  SELECT pk INTO v_owner FROM nodes WHERE id = p_node_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'DFL01',
      MESSAGE = format('node %s is not registered any more (its lease expired); it must register again', p_node_id);
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
      UPDATE jobs j SET status = 'leased', owner = v_owner, token = j.token + 1
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
      UPDATE jobs j SET status = 'leased', owner = v_owner, token = j.token + 1
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
        INSERT INTO leases (owner, step_pk, lo, hi) VALUES (v_owner, v_step.pk, v_lo, v_hi) RETURNING id INTO v_lease;
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
  p_node_id text, p_workflow_id text, p_step_id text, p_limit integer,
  OUT step_pk bigint, OUT seqs integer[], OUT datas text[], OUT failed integer[], OUT tokens bigint[],
  OUT total integer, OUT watch boolean
) LANGUAGE sql SET search_path FROM CURRENT AS $$
  SELECT * FROM claim_core(p_node_id, p_workflow_id, p_step_id, p_limit)
$$;
