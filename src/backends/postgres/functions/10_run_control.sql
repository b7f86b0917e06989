-- deflow PostgreSQL functions: run control, cancel, pause and resume of a workflow
-- (docs/backends/step-machine.md#run-control). Claims refuse a workflow that is not pending or
-- running (claim_core, 04_claims.sql); here only the status moves, and a cancel hands every
-- job of the workflow leased to a node back to the queue, so what those nodes still report is
-- stale.
--
-- Locks are taken in the order a completion takes them (leases, jobs, then the workflow row),
-- so a cancel racing a completion of the same workflow waits instead of deadlocking.
--
-- Repeatable: see 04_claims.sql.

-- Entry point. p_action: cancel | pause | resume; p_error: the cancel's error record, stored as
-- given. known: the workflow exists; changed: the action applied; status: the status after it.
CREATE FUNCTION control_workflow(p_workflow_id text, p_action text, p_error jsonb,
  OUT known boolean, OUT changed boolean, OUT status text, OUT events jsonb)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_workflow workflows;
  v_pks bigint[];
  v_step record;
BEGIN
  PERFORM begin_events();
  known := false;
  changed := false;
  events := '[]'::jsonb;
  IF p_action = 'cancel' THEN
    SELECT array_agg(s.pk ORDER BY s.pk) INTO v_pks FROM steps s WHERE s.workflow_id = p_workflow_id AND s.status = 'running';
    PERFORM 1 FROM leases l WHERE l.step_pk = ANY(v_pks) ORDER BY l.id FOR UPDATE;
    PERFORM 1 FROM jobs j WHERE j.step_pk = ANY(v_pks) AND j.status = 'leased' ORDER BY j.step_pk, j.seq FOR UPDATE;
  END IF;
  SELECT * INTO v_workflow FROM workflows w WHERE w.id = p_workflow_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  known := true;
  status := v_workflow.status;
  IF p_action = 'cancel' AND v_workflow.status IN ('pending', 'running', 'paused') THEN
    -- Again under the workflow's lock: a completion committed meanwhile may have started a step
    -- and leased its first jobs (adoption); no step starts while the lock is held.
    SELECT array_agg(s.pk ORDER BY s.pk) INTO v_pks FROM steps s WHERE s.workflow_id = p_workflow_id AND s.status = 'running';
    UPDATE jobs j SET status = 'requeued', run_at = NULL
    FROM leases l
    WHERE l.step_pk = ANY(v_pks) AND j.step_pk = l.step_pk AND j.seq BETWEEN l.lo AND l.hi AND j.status = 'fresh'
      AND NOT lease_taken(l, j.seq);
    DELETE FROM leases l WHERE l.step_pk = ANY(v_pks);
    UPDATE jobs j SET status = 'requeued', owner = NULL, run_at = NULL WHERE j.step_pk = ANY(v_pks) AND j.status = 'leased';
    -- Its timers are dropped (no node wakes for them); a retry fixes them again at each step's turn.
    UPDATE steps s SET due_at = NULL WHERE s.workflow_id = p_workflow_id AND s.status = 'waiting' AND s.due_at IS NOT NULL;
    UPDATE workflows
    SET status = 'cancelled', error = p_error, finished_at = ms_now(),
        expires_at = ms_now() + json_bigint(v_workflow.options->'keepMs') * interval '1 millisecond'
    WHERE id = p_workflow_id;
    PERFORM emit(jsonb_build_object('type', 'workflow', 'workflowId', p_workflow_id, 'status', 'cancelled'));
    status := 'cancelled';
    changed := true;
  ELSIF p_action = 'pause' AND v_workflow.status IN ('pending', 'running') THEN
    UPDATE workflows SET status = 'paused' WHERE id = p_workflow_id;
    status := 'paused';
    changed := true;
  ELSIF p_action = 'resume' AND v_workflow.status = 'paused' THEN
    UPDATE workflows SET status = 'running' WHERE id = p_workflow_id;
    -- Idle nodes look again; a delayed retry that fell due meanwhile is claimable now.
    FOR v_step IN SELECT s.id FROM steps s WHERE s.workflow_id = p_workflow_id AND s.status = 'running' ORDER BY s.pk LOOP
      PERFORM step_work(p_workflow_id, v_step.id);
    END LOOP;
    -- Timers that fell due while paused start now; nodes are woken for those still ahead (while
    -- paused, runnableSteps' next_timer_at left them out).
    FOR v_step IN
      SELECT s.pk FROM steps s WHERE s.workflow_id = p_workflow_id AND s.status = 'waiting' AND s.due_at <= now() ORDER BY s.due_at, s.pk
    LOOP
      PERFORM step_start(v_step.pk, '{}');
    END LOOP;
    IF EXISTS (SELECT 1 FROM steps s WHERE s.workflow_id = p_workflow_id AND s.status = 'waiting' AND s.due_at > now()) THEN
      PERFORM emit('{"type": "wake"}'::jsonb);
    END IF;
    PERFORM settle_workflow(p_workflow_id);
    status := 'running';
    changed := true;
  END IF;
  events := flush_events();
END
$$;
