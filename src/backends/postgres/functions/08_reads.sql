-- deflow PostgreSQL functions: reading outcomes back.
--
-- A task that succeeded in a range lease keeps its job row 'fresh': its outcome is in a
-- results row of its lease (05_completion.sql), laid over the job rows when they are read.
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.
-- LANGUAGE sql bodies are checked at creation: they may call functions of earlier files only.

-- Entry point (read): one page of a step's tasks, seqs p_after_seq + 1 .. p_after_seq + p_limit
-- (task seqs have no gaps). Successes of range leases are kept in results batches: they are
-- laid over the job rows by position, so the page costs one pass over each.
CREATE FUNCTION task_page(p_workflow_id text, p_step_id text, p_after_seq integer, p_limit integer)
RETURNS TABLE (seq integer, data text, status text, failed_count integer, result text, error jsonb, finished_at float8,
               lost_count integer)
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
  v_step steps;
  v_last integer;
  v_done boolean[];
  v_results text[];
  v_errors jsonb[];
  v_finished float8[];
  v_batch record;
BEGIN
  SELECT * INTO v_step FROM steps s WHERE s.workflow_id = p_workflow_id AND s.id = p_step_id;
  IF NOT FOUND OR p_limit < 1 THEN
    RETURN;
  END IF;
  v_last := least(p_after_seq::bigint + p_limit, v_step.next_seq);
  IF v_last <= p_after_seq THEN
    RETURN;
  END IF;
  v_done := array_fill(false, ARRAY[v_last - p_after_seq]);
  v_results := array_fill(NULL::text, ARRAY[v_last - p_after_seq]);
  v_errors := array_fill(NULL::jsonb, ARRAY[v_last - p_after_seq]);
  v_finished := array_fill(NULL::float8, ARRAY[v_last - p_after_seq]);
  FOR v_batch IN
    SELECT u.seq, u.result, u.error, epoch_ms(b.finished_at) AS finished_at
    FROM results b CROSS JOIN LATERAL unnest(b.seqs, b.results, b.errors) AS u(seq, result, error)
    WHERE b.step_pk = v_step.pk AND b.lo <= v_last AND b.hi > p_after_seq
  LOOP
    CONTINUE WHEN v_batch.seq <= p_after_seq OR v_batch.seq > v_last;
    v_done[v_batch.seq - p_after_seq] := true;
    v_results[v_batch.seq - p_after_seq] := v_batch.result;
    v_errors[v_batch.seq - p_after_seq] := v_batch.error;
    v_finished[v_batch.seq - p_after_seq] := v_batch.finished_at;
  END LOOP;
  RETURN QUERY
  SELECT j.seq, j.data,
         CASE
           WHEN v_done[j.seq - p_after_seq] THEN 'succeeded'
           WHEN j.status = 'fresh' AND j.seq <= v_step.fresh_cursor THEN 'leased'
           WHEN j.status IN ('fresh', 'requeued') THEN 'ready'
           ELSE j.status::text
         END,
         j.failed_count,
         CASE WHEN v_done[j.seq - p_after_seq] THEN v_results[j.seq - p_after_seq] ELSE j.result END,
         CASE WHEN v_done[j.seq - p_after_seq] THEN v_errors[j.seq - p_after_seq] ELSE j.error END,
         CASE WHEN v_done[j.seq - p_after_seq] THEN v_finished[j.seq - p_after_seq] ELSE epoch_ms(j.finished_at) END,
         j.lost_count
  FROM jobs j
  WHERE j.step_pk = v_step.pk AND j.seq > p_after_seq AND j.seq <= v_last
  ORDER BY j.seq;
END
$$;
