-- deflow PostgreSQL functions: the step machine.
--
-- The step lifecycle, decided inside the caller's transaction. Every entry function that runs
-- transitions first locks the rows of the workflows it touches (FOR UPDATE, in id order), so
-- the transitions of one workflow never interleave and fire exactly once however many nodes
-- race; each statement after the lock sees every transition committed before it.
-- Lock order: leases -> jobs (outcomes are recorded first, so completions of different nodes
-- overlap) -> workflows -> steps. Range leases of finished steps are left to retention, so
-- that no transition waits on a lease row.
--
-- A step moves waiting -> running -> succeeded | failed | skipped. While running it walks
-- through its stages, skipping any with nothing to do:
--
--   before -> before-children -> tasks -> tasks-children -> after -> after-children -> done
--
-- "X-children" are the steps that addAfter inserted from phase X; they run one after the
-- other, in call order, before the step moves on. A child that fails fails its step.
-- A task that fails for good marks the step as failing: the remaining tasks still run, then
-- afterAll (so it can look at the failures), children are skipped and the step fails.
-- When a step finishes, its dependents are evaluated: they start when their `when` condition
-- holds (success: every parent succeeded; failure: some parent failed; always), or are
-- skipped. A workflow finishes when no step is left open; it fails when some failed step has
-- no failure/always dependent to handle it.
--
-- p_adv: the steps whose advance loop is on the call stack; a child finishing must not
-- re-enter its anchor's loop (the loop looks at the child itself when control returns).
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.
-- LANGUAGE sql bodies are checked at creation: they may call functions of earlier files only.


-- Failure and refusal records (docs/backends/step-machine.md, Failures and Refusals): JSON
-- without messages; src/backends/failures.ts words them when they leave the backend.

-- A failed step: the workflow's record of its first unhandled failure, and (with the anchor)
-- the record an added step fails its anchor with. Stage and cause only when known.
CREATE FUNCTION step_failure(p_step steps, p_anchor steps) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
    'code', 'ERR_STEP_FAILED',
    'step', p_step.name,
    'stepId', p_step.id,
    'status', p_step.status,
    'stage', p_step.failed_stage,
    'anchorStep', p_anchor.name,
    'anchorStepId', p_anchor.id
  )) || CASE WHEN p_step.error IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('cause', p_step.error) END
$$;

-- A failing step's tasks: the first task failed for good (its seq, null when unknown, and its
-- error as cause) and the counts.
CREATE FUNCTION task_failure(p_step steps) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'code', 'ERR_TASK_FAILED',
    'step', p_step.name,
    'stepId', p_step.id,
    'status', 'failed',
    'stage', 'tasks',
    'task', p_step.failing->'seq',
    'failed', p_step.failed,
    'total', p_step.total
  ) || CASE WHEN jsonb_typeof(p_step.failing->'error') = 'object' THEN jsonb_build_object('cause', p_step.failing->'error')
            ELSE '{}'::jsonb END
$$;

-- addTasks / addAfter to a step that does not take them now.
CREATE FUNCTION step_closed(p_step steps, p_operation text, p_phase text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
    'code', 'ERR_STEP_CLOSED',
    'operation', p_operation,
    'phase', p_phase,
    'step', p_step.name,
    'stepId', p_step.id,
    'status', p_step.status,
    'stage', p_step.stage
  ))
$$;

-- Rejects the call with a refusal record: SQLSTATE DFL00, the record as DETAIL (errors.ts
-- turns it into the DeflowError). The message is the record's code, for server logs.
CREATE FUNCTION refuse(p_record jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'DFL00', MESSAGE = p_record->>'code', DETAIL = p_record::text;
END
$$;

CREATE FUNCTION step_work(p_workflow_id text, p_step_id text) RETURNS void LANGUAGE sql AS $$
  SELECT emit(jsonb_build_object('type', 'work', 'workflowId', p_workflow_id, 'stepId', p_step_id))
$$;

-- A step with a delay or startAt: its due time is fixed the first time its turn comes (its delay
-- counted from then, on this server's clock). Until it is due the step stays waiting, and idle
-- nodes are woken to learn when to look again (runnableSteps' next_timer_at; start_due_steps).
CREATE FUNCTION step_timer_due(p_step steps) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_due timestamptz := p_step.due_at;
BEGIN
  IF v_due IS NULL THEN
    IF p_step.delay_ms <= 0 AND p_step.start_at IS NULL THEN
      RETURN true;
    END IF;
    v_due := greatest(p_step.start_at, CASE WHEN p_step.delay_ms > 0 THEN ms_now() + p_step.delay_ms * interval '1 millisecond' END);
    UPDATE steps SET due_at = v_due WHERE pk = p_step.pk;
    IF v_due > now() THEN
      PERFORM emit('{"type": "wake"}'::jsonb);
    END IF;
  END IF;
  RETURN v_due <= now();
END
$$;


-- Have all the events a step waits for arrived at its workflow?
CREATE FUNCTION step_events_arrived(p_step steps) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(p_step.wait_for) = 'array' THEN p_step.wait_for ELSE '[]' END) AS n(name)
    WHERE NOT EXISTS (SELECT 1 FROM workflow_events e WHERE e.workflow_id = p_step.workflow_id AND e.name = n.name)
  )
$$;

-- Starts a waiting step (once its timer, if any, is due) and runs its stages as far as they go
-- without a job; a step whose events have not all arrived is held back instead (receive_event starts it).
CREATE FUNCTION step_start(p_pk bigint, p_adv bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_step steps;
BEGIN
  SELECT * INTO v_step FROM steps WHERE pk = p_pk;
  IF NOT FOUND OR v_step.status <> 'waiting' THEN
    RETURN;
  END IF;
  IF NOT step_timer_due(v_step) THEN
    RETURN;
  END IF;
  IF v_step.wait_for IS NOT NULL AND NOT step_events_arrived(v_step) THEN
    UPDATE steps SET wait_since = ms_now(), wait_due = ms_now() + make_interval(secs => wait_timeout / 1000.0)
    WHERE pk = p_pk AND wait_since IS NULL;
    RETURN;
  END IF;
  UPDATE workflows
  SET status = CASE WHEN status = 'pending' THEN 'running' ELSE status END, started_at = coalesce(started_at, ms_now())
  WHERE id = v_step.workflow_id;
  UPDATE steps SET status = 'running', stage = 'before', started_at = ms_now(), wait_since = NULL, wait_due = NULL WHERE pk = p_pk;
  IF v_step.has_before THEN
    PERFORM step_work(v_step.workflow_id, v_step.id);
  END IF;
  PERFORM step_advance(p_pk, p_adv);
END
$$;

-- Runs the children one phase of the anchor added, in call order; reports whether they all
-- succeeded yet, or the record the anchor fails with.
CREATE FUNCTION step_run_children(p_anchor steps, p_phase text, p_adv bigint[], OUT state text, OUT error jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  v_child record;
  v_status text;
  v_row steps;
BEGIN
  FOR v_child IN SELECT pk, status FROM steps WHERE anchor_pk = p_anchor.pk AND anchor_phase = p_phase ORDER BY anchor_seq LOOP
    v_status := v_child.status;
    IF v_status = 'waiting' THEN
      PERFORM step_start(v_child.pk, p_adv);
      SELECT status INTO v_status FROM steps WHERE pk = v_child.pk;
    END IF;
    CONTINUE WHEN v_status = 'succeeded';
    IF v_status IN ('running', 'waiting') THEN
      state := 'wait';
      RETURN;
    END IF;
    SELECT * INTO v_row FROM steps WHERE pk = v_child.pk;
    state := 'failed';
    error := step_failure(v_row, p_anchor);
    RETURN;
  END LOOP;
  state := 'done';
END
$$;

CREATE FUNCTION step_skip_waiting_children(p_pk bigint, p_adv bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_child record;
BEGIN
  FOR v_child IN SELECT pk FROM steps WHERE anchor_pk = p_pk AND status = 'waiting' ORDER BY anchor_seq LOOP
    PERFORM step_finish(v_child.pk, 'skipped', NULL, p_adv, NULL);
  END LOOP;
END
$$;

-- Re-examines a running step after a job of it (or a child) finished. The step row is read
-- once and its stage kept in hand: only this loop moves it (a child finishing inside it sees
-- its anchor in p_adv and leaves it alone), and it is written back before anything that
-- could look at it and when the loop stops. Steps that never had children added
-- (child_seq = 0) skip the children stages without a query.
CREATE FUNCTION step_advance(p_pk bigint, p_adv bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_adv bigint[];
  v_step steps;
  v_stage text;
  v_hook record;
  v_children record;
  v_stored_index integer;
BEGIN
  IF p_pk = ANY(p_adv) THEN
    RETURN;
  END IF;
  v_adv := p_adv || p_pk;
  SELECT * INTO v_step FROM steps WHERE pk = p_pk;
  IF NOT FOUND OR v_step.status <> 'running' THEN
    RETURN;
  END IF;
  v_stage := v_step.stage;
  v_stored_index := v_step.run_index;
  <<walk>>
  LOOP
    CASE v_stage
    WHEN 'before', 'after' THEN
      IF (v_stage = 'before' AND v_step.has_before) OR (v_stage = 'after' AND v_step.has_after) THEN
        SELECT status, error INTO v_hook FROM jobs
        WHERE step_pk = p_pk AND seq = (CASE WHEN v_stage = 'before' THEN 0 ELSE 2147483647 END);
        IF FOUND THEN
          IF v_hook.status = 'failed' THEN
            IF v_step.run_index IS DISTINCT FROM v_stored_index THEN
              v_step := step_set_stage(v_step, v_stage);
            END IF;
            PERFORM step_finish(p_pk, 'failed', v_hook.error, v_adv, v_stage);
            RETURN;
          END IF;
          EXIT walk WHEN v_hook.status <> 'succeeded';
        END IF;
      END IF;
      v_stage := v_stage || '-children';
    WHEN 'before-children' THEN
      IF v_step.child_seq > 0 THEN
        v_step := step_set_stage(v_step, v_stage);
        SELECT * INTO v_children FROM step_run_children(v_step, 'before', v_adv);
        IF v_children.state = 'wait' THEN
          RETURN;
        ELSIF v_children.state = 'failed' THEN
          IF v_step.run_index IS DISTINCT FROM v_stored_index THEN
            v_step := step_set_stage(v_step, v_stage);
          END IF;
          PERFORM step_finish(p_pk, 'failed', v_children.error, v_adv, v_stage);
          RETURN;
        END IF;
      END IF;
      -- Execution order is counted when a step's tasks begin (after beforeAll and the steps it added).
      UPDATE workflows
      SET run_seq = run_seq + 1,
          status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
          started_at = coalesce(started_at, ms_now())
      WHERE id = v_step.workflow_id
      RETURNING run_seq INTO v_step.run_index;
      v_stage := 'tasks';
      IF v_step.total > v_step.done + v_step.failed THEN
        PERFORM step_work(v_step.workflow_id, v_step.id);
      END IF;
    WHEN 'tasks' THEN
      EXIT walk WHEN v_step.done + v_step.failed < v_step.total;
      v_stage := 'tasks-children';
    WHEN 'tasks-children' THEN
      IF v_step.child_seq > 0 THEN
        v_step := step_set_stage(v_step, v_stage);
        IF v_step.failing IS NULL THEN
          SELECT * INTO v_children FROM step_run_children(v_step, 'task', v_adv);
          IF v_children.state = 'wait' THEN
            RETURN;
          ELSIF v_children.state = 'failed' THEN
            IF v_step.run_index IS DISTINCT FROM v_stored_index THEN
              v_step := step_set_stage(v_step, v_stage);
            END IF;
            PERFORM step_finish(p_pk, 'failed', v_children.error, v_adv, v_stage);
            RETURN;
          END IF;
        ELSE
          PERFORM step_skip_waiting_children(p_pk, v_adv);
        END IF;
      END IF;
      v_stage := 'after';
      IF v_step.has_after THEN
        PERFORM step_work(v_step.workflow_id, v_step.id);
      END IF;
    WHEN 'after-children' THEN
      IF v_step.child_seq > 0 THEN
        v_step := step_set_stage(v_step, v_stage);
        IF v_step.failing IS NULL THEN
          SELECT * INTO v_children FROM step_run_children(v_step, 'after', v_adv);
          IF v_children.state = 'wait' THEN
            RETURN;
          ELSIF v_children.state = 'failed' THEN
            IF v_step.run_index IS DISTINCT FROM v_stored_index THEN
              v_step := step_set_stage(v_step, v_stage);
            END IF;
            PERFORM step_finish(p_pk, 'failed', v_children.error, v_adv, v_stage);
            RETURN;
          END IF;
        ELSE
          PERFORM step_skip_waiting_children(p_pk, v_adv);
        END IF;
      END IF;
      IF v_step.failing IS NULL THEN
        IF v_step.run_index IS DISTINCT FROM v_stored_index THEN
          v_step := step_set_stage(v_step, v_stage);
        END IF;
        PERFORM step_finish(p_pk, 'succeeded', NULL, v_adv, NULL);
      ELSE
        IF v_step.run_index IS DISTINCT FROM v_stored_index THEN
          v_step := step_set_stage(v_step, v_stage);
        END IF;
        PERFORM step_finish(p_pk, 'failed', task_failure(v_step), v_adv, 'tasks');
      END IF;
      RETURN;
    ELSE
      EXIT walk;
    END CASE;
  END LOOP;
  v_step := step_set_stage(v_step, v_stage);
END
$$;

-- Writes a stage (and the run index handed out with 'tasks') kept in hand by step_advance.
-- (Before finishing a step, step_advance only writes it when the run index is new: the
-- finish overwrites the stage anyway.)
CREATE FUNCTION step_set_stage(INOUT p_step steps, p_stage text) LANGUAGE plpgsql AS $$
BEGIN
  IF p_step.stage IS DISTINCT FROM p_stage THEN
    UPDATE steps SET stage = p_stage, run_index = p_step.run_index WHERE pk = p_step.pk;
    p_step.stage := p_stage;
  END IF;
END
$$;

-- Ends a step, then moves on what waited for it: its anchor (addAfter) or its dependents.
-- A failed step keeps the stage it failed in: p_stage, or (null) the stage it is in.
CREATE FUNCTION step_finish(p_pk bigint, p_status text, p_error jsonb, p_adv bigint[], p_stage text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_step steps;
  v_anchor steps;
  v_dependent record;
BEGIN
  UPDATE steps
  SET status = p_status, stage = 'done', error = p_error, finished_at = ms_now(), wait_since = NULL, wait_due = NULL,
      failed_stage = CASE WHEN p_status = 'failed' THEN coalesce(p_stage, stage) END
  WHERE pk = p_pk AND status IN ('waiting', 'running')
  RETURNING * INTO v_step;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  UPDATE workflows SET open_steps = open_steps - 1 WHERE id = v_step.workflow_id;
  PERFORM emit(jsonb_build_object('type', 'step', 'workflowId', v_step.workflow_id, 'stepId', v_step.id, 'status', p_status));
  -- Steps added to a finished step can no longer run.
  IF v_step.child_seq > 0 THEN
    PERFORM step_skip_waiting_children(p_pk, p_adv);
  END IF;

  IF v_step.anchor_pk IS NOT NULL THEN
    IF v_step.anchor_pk = ANY(p_adv) THEN
      RETURN; -- the anchor's loop is looking at us
    END IF;
    SELECT * INTO v_anchor FROM steps WHERE pk = v_step.anchor_pk;
    IF NOT FOUND OR v_anchor.status <> 'running' THEN
      RETURN;
    END IF;
    IF p_status = 'succeeded' THEN
      PERFORM step_advance(v_anchor.pk, p_adv);
    ELSE
      PERFORM step_finish(v_anchor.pk, 'failed', step_failure(v_step, v_anchor), p_adv, NULL);
    END IF;
    RETURN;
  END IF;
  FOR v_dependent IN SELECT child_pk FROM step_edges WHERE parent_pk = p_pk ORDER BY child_pk LOOP
    PERFORM step_evaluate(v_dependent.child_pk, p_adv);
  END LOOP;
END
$$;

-- Starts or skips a waiting dependent once all its parents are terminal.
CREATE FUNCTION step_evaluate(p_pk bigint, p_adv bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_pending boolean;
  v_any_failed boolean;
  v_all_succeeded boolean;
  v_condition text;
BEGIN
  SELECT status INTO v_status FROM steps WHERE pk = p_pk;
  IF NOT FOUND OR v_status <> 'waiting' THEN
    RETURN;
  END IF;
  SELECT bool_or(p.status IN ('waiting', 'running')), bool_or(p.status = 'failed'), bool_and(p.status = 'succeeded'), min(e.on_cond)
  INTO v_pending, v_any_failed, v_all_succeeded, v_condition
  FROM step_edges e JOIN steps p ON p.pk = e.parent_pk
  WHERE e.child_pk = p_pk;
  IF v_pending THEN
    RETURN;
  END IF;
  IF (CASE coalesce(v_condition, 'success')
        WHEN 'always' THEN true
        WHEN 'failure' THEN coalesce(v_any_failed, false)
        ELSE coalesce(v_all_succeeded, true)
      END) THEN
    PERFORM step_start(p_pk, p_adv);
  ELSE
    PERFORM step_finish(p_pk, 'skipped', NULL, p_adv, NULL);
  END IF;
END
$$;

-- Decides a workflow that has no open step left: succeeded, or failed with the first
-- unhandled step failure (steps added by addAfter are left out: their failure already
-- failed the step they belong to).
CREATE FUNCTION settle_workflow(p_id text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_workflow workflows;
  v_failure steps;
  v_status text := 'succeeded';
  v_error jsonb;
  v_keep_ms bigint;
BEGIN
  SELECT * INTO v_workflow FROM workflows WHERE id = p_id;
  IF NOT FOUND OR v_workflow.open_steps > 0 OR v_workflow.status NOT IN ('pending', 'running', 'paused') THEN
    RETURN;
  END IF;
  SELECT s.* INTO v_failure
  FROM steps s
  WHERE s.workflow_id = p_id AND s.status = 'failed' AND s.anchor_pk IS NULL
    AND NOT EXISTS (SELECT 1 FROM step_edges e WHERE e.parent_pk = s.pk AND e.on_cond IN ('failure', 'always'))
  ORDER BY s.run_index NULLS FIRST, s.decl_index
  LIMIT 1;
  IF FOUND THEN
    v_status := 'failed';
    v_error := step_failure(v_failure, NULL);
  END IF;
  -- Resolved by the api (cleanOnDone's grace, or the retention); null keeps it forever.
  v_keep_ms := json_bigint(v_workflow.options->'keepMs');
  UPDATE workflows
  SET status = v_status, error = v_error, finished_at = ms_now(),
      expires_at = ms_now() + v_keep_ms * interval '1 millisecond'
  WHERE id = p_id;
  PERFORM emit(jsonb_build_object('type', 'workflow', 'workflowId', p_id, 'status', v_status));
END
$$;
