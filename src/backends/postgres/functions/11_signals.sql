-- deflow PostgreSQL functions: events between workflows (step.emit, workflow.signal,
-- DeFlow.emit) and the waitTimeout of steps held back by them
-- (docs/backends/step-machine.md, receive and wait timeout).
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.


-- receive: stores an event for a workflow that has not finished and starts the steps it
-- completes the events of. The caller holds the workflow's row lock. False when the workflow
-- is unknown or finished, or already has an event with this id.
CREATE FUNCTION receive_event(p_workflow_id text, p_id text, p_name text, p_data text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_pk bigint;
BEGIN
  SELECT status INTO v_status FROM workflows WHERE id = p_workflow_id;
  IF NOT FOUND OR v_status NOT IN ('pending', 'running') THEN
    RETURN false;
  END IF;
  INSERT INTO workflow_events (workflow_id, id, name, data, at) VALUES (p_workflow_id, p_id, p_name, p_data, ms_now())
  ON CONFLICT (workflow_id, id) DO NOTHING;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM emit(jsonb_build_object('type', 'event', 'workflowId', p_workflow_id, 'eventId', p_id, 'name', p_name));
  FOR v_pk IN SELECT pk FROM steps WHERE workflow_id = p_workflow_id AND wait_since IS NOT NULL AND wait_for ? p_name ORDER BY pk LOOP
    PERFORM step_start(v_pk, '{}');
  END LOOP;
  PERFORM settle_workflow(p_workflow_id);
  RETURN true;
END
$$;

-- Entry point: an event to one workflow. The steps it starts are adopted for the sending
-- node (p_adopt_*, as in complete_jobs; its claims are call p_call): a signalled step's first
-- task starts one round trip after the signal, not three (discovery, claim).
CREATE FUNCTION deliver_event(
  p_workflow_id text, p_id text, p_name text, p_data text,
  p_adopt_node_id text, p_adopt_handlers text[], p_adopt_limit integer, p_call bigint, p_adopt_queues text[],
  OUT delivered boolean, OUT events jsonb, OUT adopted jsonb
) LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  -- Before any other lock (see reconcile_held): the claims below are this call's.
  PERFORM lock_claims_shared(p_adopt_node_id);
  PERFORM begin_events();
  PERFORM 1 FROM workflows WHERE id = p_workflow_id FOR UPDATE;
  delivered := receive_event(p_workflow_id, p_id, p_name, p_data);
  events := flush_events();
  adopted := adopt_steps(events, p_adopt_node_id, p_adopt_handlers, p_adopt_limit, NULL, NULL, p_call, p_adopt_queues);
END
$$;

-- Entry point: a global event to every workflow that has not finished (p_key: only those with
-- that business key; NULL: all), locked in id order.
CREATE FUNCTION broadcast_event(p_id text, p_name text, p_data text, p_key text, OUT delivered integer, OUT events jsonb)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_ids text[];
BEGIN
  PERFORM begin_events();
  delivered := 0;
  -- The targets: every unfinished workflow, or (p_key) those with that business key, which
  -- the workflows_by_key index finds; two statements so that each keeps its own plan.
  IF p_key IS NULL THEN
    SELECT array_agg(id ORDER BY id) INTO v_ids FROM (
      SELECT id FROM workflows WHERE status IN ('pending', 'running') ORDER BY id FOR UPDATE) t;
  ELSE
    SELECT array_agg(id ORDER BY id) INTO v_ids FROM (
      SELECT id FROM workflows WHERE business_key = p_key AND status IN ('pending', 'running') ORDER BY id FOR UPDATE) t;
  END IF;
  FOR i IN 1..coalesce(array_length(v_ids, 1), 0) LOOP
    IF receive_event(v_ids[i], p_id, p_name, p_data) THEN
      delivered := delivered + 1;
    END IF;
  END LOOP;
  events := flush_events();
END
$$;

-- Entry point: held-back steps whose waitTimeout ran out fail with an ERR_TIMEOUT record.
CREATE FUNCTION expire_waits(p_limit integer, OUT expired integer, OUT events jsonb)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_ids text[];
  v_step steps;
BEGIN
  PERFORM begin_events();
  expired := 0;
  SELECT array_agg(DISTINCT workflow_id) INTO v_ids FROM (
    SELECT workflow_id FROM steps WHERE wait_due <= now() ORDER BY wait_due LIMIT p_limit
  ) due;
  IF v_ids IS NOT NULL THEN
    PERFORM 1 FROM workflows WHERE id = ANY(v_ids) ORDER BY id FOR UPDATE;
    FOR v_step IN SELECT * FROM steps WHERE workflow_id = ANY(v_ids) AND status = 'waiting' AND wait_due <= now() ORDER BY wait_due LOOP
      PERFORM step_finish(v_step.pk, 'failed', jsonb_build_object(
        'code', 'ERR_TIMEOUT', 'reason', 'wait-for-events', 'step', v_step.name, 'stepId', v_step.id,
        'waitFor', v_step.wait_for, 'waitTimeout', v_step.wait_timeout), '{}', NULL);
      expired := expired + 1;
    END LOOP;
    FOR i IN 1..array_length(v_ids, 1) LOOP
      PERFORM settle_workflow(v_ids[i]);
    END LOOP;
  END IF;
  events := flush_events();
END
$$;
