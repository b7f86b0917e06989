-- deflow PostgreSQL functions: retry of a finished workflow (docs/backends/step-machine.md,
-- the retry transition; src/backends/sqlite/retry.ts is the reference).
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.
-- LANGUAGE sql bodies are checked at creation: they may call functions of earlier files only.

-- A step from scratch: waiting, every job fresh (fencing tokens kept), its range leases and
-- their results gone, its added steps too. Returns how many terminal steps it reopened.
CREATE FUNCTION retry_reset_fresh(p_pk bigint) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_opened integer := 0;
  v_child record;
BEGIN
  SELECT status INTO v_status FROM steps WHERE pk = p_pk;
  IF v_status IN ('succeeded', 'failed', 'skipped', 'cancelled') THEN
    v_opened := 1;
  END IF;
  DELETE FROM results WHERE step_pk = p_pk;
  DELETE FROM leases WHERE step_pk = p_pk;
  UPDATE jobs
  SET status = 'fresh', failed_count = 0, lost_count = 0, owner = NULL, run_at = NULL, result = NULL, error = NULL,
      finished_at = NULL, claim_call = NULL
  WHERE step_pk = p_pk;
  UPDATE steps
  SET status = 'waiting', stage = 'before', failed_stage = NULL, error = NULL, failing = NULL, done = 0, failed = 0,
      fresh_cursor = 0, run_index = NULL, started_at = NULL, finished_at = NULL
  WHERE pk = p_pk;
  FOR v_child IN SELECT pk FROM steps WHERE anchor_pk = p_pk ORDER BY anchor_seq LOOP
    v_opened := v_opened + retry_reset_fresh(v_child.pk);
  END LOOP;
  RETURN v_opened;
END
$$;

-- Takes a step up again at the stage it failed in (its current one, for a running step of a
-- cancelled workflow), as the retry transition and "Run control" of docs/backends/step-machine.md
-- say. Returns how many steps it reopened (a running step never closed).
CREATE FUNCTION retry_resume(p_pk bigint, p_stage text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_opened integer;
  v_child record;
BEGIN
  SELECT CASE WHEN s.status = 'running' THEN 0 ELSE 1 END INTO v_opened FROM steps s WHERE s.pk = p_pk;
  UPDATE jobs
  SET status = 'requeued', failed_count = 0, lost_count = 0, owner = NULL, run_at = NULL, error = NULL, finished_at = NULL
  WHERE step_pk = p_pk AND status IN ('leased', 'failed', 'requeued');
  IF p_stage IN ('before', 'before-children', 'tasks', 'tasks-children') THEN
    UPDATE jobs
    SET status = 'fresh', failed_count = 0, lost_count = 0, owner = NULL, run_at = NULL, result = NULL, error = NULL,
        finished_at = NULL
    WHERE step_pk = p_pk AND seq = 2147483647;
  END IF;
  UPDATE steps
  SET status = 'running', stage = p_stage, failed_stage = NULL, error = NULL, failing = NULL, failed = 0, finished_at = NULL
  WHERE pk = p_pk;
  FOR v_child IN SELECT pk FROM steps WHERE anchor_pk = p_pk AND status <> 'succeeded' ORDER BY anchor_seq LOOP
    v_opened := v_opened + retry_reset_fresh(v_child.pk);
  END LOOP;
  RETURN v_opened;
END
$$;

-- Declared steps reached from p_seeds through dependency edges (the seeds included), each with
-- whether it was reached from a parent.
CREATE FUNCTION retry_reach(p_workflow_id text, p_seeds bigint[]) RETURNS TABLE (pk bigint, has_parent boolean)
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE reach(pk) AS (
    SELECT unnest(p_seeds)
    UNION
    SELECT e.child_pk FROM step_edges e JOIN reach r ON e.parent_pk = r.pk
  )
  SELECT r.pk, EXISTS (SELECT 1 FROM step_edges e WHERE e.child_pk = r.pk AND e.parent_pk IN (SELECT pk FROM reach))
  FROM reach r
$$;

-- Entry point: runs a finished workflow again, in one call under the workflow's row lock.
-- p_from: step ids to run again from scratch with their dependents; p_only: the one step whose
-- failed work alone is retried (NULL: none); p_retryable: statuses a retry takes up again
-- (src/backends/policy.ts). Refusals: ERR_NOT_FOUND, ERR_NOT_RETRYABLE.
CREATE FUNCTION retry_workflow(p_id text, p_from text[], p_only text, p_retryable text[], OUT retries integer, OUT events jsonb)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_workflow workflows;
  v_from bigint[] := '{}';
  v_only steps;
  v_seeds bigint[];
  v_fresh bigint[];
  v_pk bigint;
  v_id text;
  v_step record;
  v_opened integer := 0;
  v_resumed bigint[] := '{}';
BEGIN
  PERFORM begin_events();
  SELECT * INTO v_workflow FROM workflows WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM refuse(jsonb_build_object('code', 'ERR_NOT_FOUND', 'operation', 'retry', 'workflowId', p_id));
  END IF;
  IF NOT v_workflow.status = ANY(p_retryable) THEN
    IF v_workflow.status <> 'succeeded' THEN
      PERFORM refuse(jsonb_build_object('code', 'ERR_NOT_RETRYABLE', 'reason', 'unfinished', 'workflowId', p_id, 'status', v_workflow.status));
    END IF;
    IF coalesce(array_length(p_from, 1), 0) = 0 AND p_only IS NULL THEN
      PERFORM refuse(jsonb_build_object('code', 'ERR_NOT_RETRYABLE', 'reason', 'succeeded', 'workflowId', p_id));
    END IF;
  END IF;
  FOREACH v_id IN ARRAY coalesce(p_from, '{}') LOOP
    SELECT s.pk INTO v_pk FROM steps s WHERE s.workflow_id = p_id AND s.id = v_id AND s.anchor_pk IS NULL;
    IF NOT FOUND THEN
      PERFORM refuse(jsonb_build_object('code', 'ERR_NOT_FOUND', 'workflowId', p_id, 'stepId', v_id));
    END IF;
    v_from := v_from || v_pk;
  END LOOP;
  IF p_only IS NOT NULL THEN
    SELECT * INTO v_only FROM steps s WHERE s.workflow_id = p_id AND s.id = p_only AND s.anchor_pk IS NULL;
    IF NOT FOUND THEN
      PERFORM refuse(jsonb_build_object('code', 'ERR_NOT_FOUND', 'workflowId', p_id, 'stepId', p_only));
    END IF;
    IF NOT v_only.status = ANY(p_retryable) THEN
      PERFORM refuse(jsonb_build_object('code', 'ERR_NOT_RETRYABLE', 'reason', 'step-not-failed', 'workflowId', p_id,
                                        'step', v_only.name, 'stepId', v_only.id, 'status', v_only.status));
    END IF;
    v_seeds := ARRAY[v_only.pk];
  ELSIF array_length(v_from, 1) > 0 AND v_workflow.status = 'succeeded' THEN
    v_seeds := v_from;
  ELSE
    v_seeds := v_from || ARRAY(SELECT s.pk FROM steps s WHERE s.workflow_id = p_id AND s.anchor_pk IS NULL AND s.status <> 'succeeded');
  END IF;
  v_fresh := ARRAY(SELECT r.pk FROM retry_reach(p_id, v_from) r);

  FOR v_step IN
    SELECT s.pk, s.status, s.stage, s.failed_stage, r.has_parent
    FROM retry_reach(p_id, v_seeds) r JOIN steps s ON s.pk = r.pk
    ORDER BY s.decl_index
  LOOP
    -- A step cut short by a cancel goes on at its current stage, like a failed step at its failed one.
    IF NOT v_step.pk = ANY(v_fresh) AND NOT v_step.has_parent
       AND ((v_step.status = ANY(p_retryable) AND v_step.failed_stage IS NOT NULL)
            OR (v_step.status = 'running' AND v_workflow.status = 'cancelled')) THEN
      v_opened := v_opened + retry_resume(v_step.pk, coalesce(v_step.failed_stage, v_step.stage));
      v_resumed := v_resumed || v_step.pk;
    ELSE
      v_opened := v_opened + retry_reset_fresh(v_step.pk);
    END IF;
  END LOOP;

  UPDATE workflows
  SET status = 'running', error = NULL, finished_at = NULL, expires_at = NULL, open_steps = open_steps + v_opened,
      retries = workflows.retries + 1
  WHERE id = p_id
  RETURNING workflows.retries INTO retries;
  FOREACH v_pk IN ARRAY v_resumed LOOP
    PERFORM step_work(p_id, (SELECT s.id FROM steps s WHERE s.pk = v_pk));
    PERFORM step_advance(v_pk, '{}');
  END LOOP;
  FOR v_step IN
    SELECT s.pk FROM retry_reach(p_id, v_seeds) r JOIN steps s ON s.pk = r.pk ORDER BY s.decl_index
  LOOP
    PERFORM step_evaluate(v_step.pk, '{}');
  END LOOP;
  PERFORM settle_workflow(p_id);
  events := flush_events();
END
$$;
