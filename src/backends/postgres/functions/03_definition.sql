-- deflow PostgreSQL functions: defining work (workflows, steps added by addAfter, tasks).
--
-- Steps cross as parallel arrays, one element per step: ids, names, handlers (HandlerRef),
-- data (JSON text), options (ResolvedStepOptions), deps (StepDependency[]) and task counts;
-- the tasks of every step follow each other in one flat array (JSON text each).
-- Refusals are records (refuse(), 02_step_machine.sql): not found, step closed, invalid input.
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.
-- LANGUAGE sql bodies are checked at creation: they may call functions of earlier files only.


-- Stores the concurrency buckets and the rate buckets of tasks just inserted (seqs p_after + 1,
-- ...); each empty for a step without concurrencyKey / a keyed rate limit (nothing to write).
CREATE FUNCTION set_buckets(p_step_pk bigint, p_after integer, p_buckets text[], p_rate_buckets text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(cardinality(p_buckets), 0) > 0 THEN
    UPDATE jobs j SET bucket = b.bucket
    FROM unnest(p_buckets) WITH ORDINALITY AS b(bucket, ord)
    WHERE j.step_pk = p_step_pk AND j.seq = p_after + b.ord AND b.bucket IS NOT NULL;
  END IF;
  IF coalesce(cardinality(p_rate_buckets), 0) > 0 THEN
    UPDATE jobs j SET rate_bucket = b.bucket
    FROM unnest(p_rate_buckets) WITH ORDINALITY AS b(bucket, ord)
    WHERE j.step_pk = p_step_pk AND j.seq = p_after + b.ord AND b.bucket IS NOT NULL;
  END IF;
END
$$;

-- Inserts a step with its hook jobs and tasks; NULL when a step with that id exists.
CREATE FUNCTION insert_step(
  p_workflow_id text, p_id text, p_name text, p_handler jsonb, p_data text, p_options jsonb, p_deps jsonb,
  p_anchor_pk bigint, p_anchor_phase text, p_anchor_seq integer, p_parent_id text, p_decl_index integer,
  p_tasks text[], p_delay_ms bigint, p_start_at bigint, p_buckets text[], p_rate_buckets text[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_pk bigint;
  v_count integer := coalesce(array_length(p_tasks, 1), 0);
  v_before boolean := coalesce((p_handler->>'hasBeforeAll')::boolean, true);
  v_after boolean := coalesce((p_handler->>'hasAfterAll')::boolean, true);
BEGIN
  INSERT INTO steps (
    workflow_id, id, name, handler, data, options, max_attempts, retry_delay, deps,
    anchor_pk, anchor_phase, anchor_seq, parent_id, decl_index, status, stage,
    has_before, has_after, total, next_seq, delay_ms, start_at, wait_for, wait_timeout, global_limit, key_limit
  ) VALUES (
    p_workflow_id, p_id, p_name, p_handler, p_data, p_options,
    (p_options->>'taskMaxFailCount')::integer, (p_options->>'taskFailRetryDelay')::integer, p_deps,
    p_anchor_pk, p_anchor_phase, p_anchor_seq, p_parent_id, p_decl_index, 'waiting', 'before',
    v_before, v_after, v_count, v_count, coalesce(p_delay_ms, 0),
    CASE WHEN p_start_at IS NOT NULL THEN to_timestamp(p_start_at / 1000.0) END,
    CASE WHEN jsonb_typeof(p_options->'waitFor') = 'array' AND jsonb_array_length(p_options->'waitFor') > 0 THEN p_options->'waitFor' END,
    json_bigint(p_options->'waitTimeout')::integer,
    (p_options->>'globalConcurrency')::integer, (p_options->>'keyConcurrency')::integer
  )
  ON CONFLICT (workflow_id, id) DO NOTHING
  RETURNING pk INTO v_pk;
  IF v_pk IS NULL THEN
    RETURN NULL;
  END IF;
  IF v_before THEN
    INSERT INTO jobs (step_pk, seq, data) VALUES (v_pk, 0, 'null');
  END IF;
  IF v_after THEN
    INSERT INTO jobs (step_pk, seq, data) VALUES (v_pk, 2147483647, 'null');
  END IF;
  IF v_count > 0 THEN
    INSERT INTO jobs (step_pk, seq, data) SELECT v_pk, t.ord, t.data FROM unnest(p_tasks) WITH ORDINALITY AS t(data, ord);
    PERFORM set_buckets(v_pk, 0, p_buckets, p_rate_buckets);
  END IF;
  RETURN v_pk;
END
$$;

-- Entry point: stores a workflow with its steps and tasks and starts its root steps.
-- Idempotent on the workflow id (created = false when it exists).
CREATE FUNCTION create_workflow(
  p_id text, p_name text, p_key text, p_options jsonb, p_watch boolean, p_replace boolean,
  p_step_ids text[], p_names text[], p_handlers jsonb[], p_data text[], p_step_options jsonb[], p_deps jsonb[],
  p_task_counts integer[], p_tasks text[], p_delays bigint[], p_start_ats bigint[], p_buckets text[], p_rate_buckets text[],
  OUT created boolean, OUT events jsonb
) LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_steps integer := coalesce(array_length(p_step_ids, 1), 0);
  v_pks bigint[] := '{}';
  v_pk bigint;
  v_parent bigint;
  v_offset integer := 0;
  v_count integer;
  v_dep jsonb;
  v_other text;
BEGIN
  PERFORM begin_events();
  -- A concurrent create of the same id waits here for the first to commit, then does nothing.
  INSERT INTO workflows (id, name, business_key, status, options, created_at, watch_next_task, open_steps)
  VALUES (p_id, p_name, p_key, 'pending', p_options, ms_now(), p_watch, v_steps)
  ON CONFLICT (id) DO NOTHING;
  IF NOT FOUND THEN
    created := false;
    events := '[]';
    RETURN;
  END IF;
  -- Only once this one is created: a start that finds its id taken removes nothing.
  IF p_replace THEN
    FOR v_other IN SELECT id FROM workflows WHERE name = p_name AND id <> p_id ORDER BY id LOOP
      PERFORM remove_workflow_rows(v_other);
    END LOOP;
  END IF;
  FOR i IN 1..v_steps LOOP
    v_count := p_task_counts[i];
    v_pk := insert_step(p_id, p_step_ids[i], p_names[i], p_handlers[i], p_data[i], p_step_options[i], p_deps[i],
                        NULL, NULL, NULL, NULL, i - 1, p_tasks[v_offset + 1 : v_offset + v_count], p_delays[i], p_start_ats[i],
                        p_buckets[v_offset + 1 : v_offset + v_count], p_rate_buckets[v_offset + 1 : v_offset + v_count]);
    IF v_pk IS NULL THEN
      PERFORM refuse(jsonb_build_object(
        'code', 'ERR_VALIDATION', 'reason', 'duplicate-step-id', 'workflowId', p_id, 'stepId', p_step_ids[i]));
    END IF;
    v_pks := v_pks || v_pk;
    v_offset := v_offset + v_count;
  END LOOP;
  FOR i IN 1..v_steps LOOP
    FOR v_dep IN SELECT value FROM jsonb_array_elements(p_deps[i]) LOOP
      v_parent := v_pks[array_position(p_step_ids, v_dep->>'stepId')];
      IF v_parent IS NULL THEN
        PERFORM refuse(jsonb_build_object('code', 'ERR_VALIDATION', 'reason', 'unknown-dependency', 'workflowId', p_id,
                                          'step', p_names[i], 'stepId', p_step_ids[i], 'dependsOn', v_dep->>'stepId'));
      END IF;
      INSERT INTO step_edges (parent_pk, child_pk, on_cond) VALUES (v_parent, v_pks[i], v_dep->>'on') ON CONFLICT DO NOTHING;
    END LOOP;
  END LOOP;
  FOR i IN 1..v_steps LOOP
    IF jsonb_array_length(p_deps[i]) = 0 THEN
      PERFORM step_start(v_pks[i], '{}');
    END IF;
  END LOOP;
  PERFORM settle_workflow(p_id);
  created := true;
  events := flush_events();
END
$$;

-- Entry point: inserts steps right after the anchor's phase, in call order. Idempotent on step ids.
CREATE FUNCTION add_anchored_steps(
  p_workflow_id text, p_anchor_id text, p_phase text,
  p_step_ids text[], p_names text[], p_handlers jsonb[], p_data text[], p_step_options jsonb[], p_deps jsonb[],
  p_task_counts integer[], p_tasks text[], p_delays bigint[], p_start_ats bigint[], p_buckets text[], p_rate_buckets text[]
) RETURNS integer LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_anchor steps;
  v_decl integer;
  v_child_seq integer;
  v_pk bigint;
  v_offset integer := 0;
  v_count integer;
  v_added integer := 0;
BEGIN
  PERFORM begin_events();
  PERFORM 1 FROM workflows WHERE id = p_workflow_id FOR UPDATE;
  SELECT * INTO v_anchor FROM steps WHERE workflow_id = p_workflow_id AND id = p_anchor_id;
  IF NOT FOUND THEN
    PERFORM refuse(jsonb_build_object('code', 'ERR_NOT_FOUND', 'workflowId', p_workflow_id, 'stepId', p_anchor_id));
  END IF;
  IF v_anchor.status <> 'running'
     OR v_anchor.stage <> (CASE p_phase WHEN 'before' THEN 'before' WHEN 'task' THEN 'tasks' ELSE 'after' END) THEN
    PERFORM refuse(step_closed(v_anchor, 'addAfter', p_phase));
  END IF;
  SELECT coalesce(max(decl_index), -1) + 1 INTO v_decl FROM steps WHERE workflow_id = p_workflow_id;
  FOR i IN 1..coalesce(array_length(p_step_ids, 1), 0) LOOP
    v_count := p_task_counts[i];
    UPDATE steps SET child_seq = child_seq + 1 WHERE pk = v_anchor.pk RETURNING child_seq INTO v_child_seq;
    v_pk := insert_step(p_workflow_id, p_step_ids[i], p_names[i], p_handlers[i], p_data[i], p_step_options[i], p_deps[i],
                        v_anchor.pk, p_phase, v_child_seq, v_anchor.id, v_decl, p_tasks[v_offset + 1 : v_offset + v_count],
                        p_delays[i], p_start_ats[i], p_buckets[v_offset + 1 : v_offset + v_count],
                        p_rate_buckets[v_offset + 1 : v_offset + v_count]);
    v_decl := v_decl + 1;
    v_offset := v_offset + v_count;
    CONTINUE WHEN v_pk IS NULL; -- already added by an earlier attempt of the same hook
    UPDATE workflows SET open_steps = open_steps + 1 WHERE id = p_workflow_id;
    v_added := v_added + 1;
  END LOOP;
  PERFORM flush_events();
  RETURN v_added;
END
$$;

-- Entry point: appends tasks to a step that has not finished its tasks stage.
-- A batch whose key was already applied (a retried hook) changes nothing. Tasks added with a
-- delay (p_delay_ms > 0) are requeued jobs ready from now() + delay, as a task waiting for its
-- retry delay: no range lease of fresh tasks covers them (ranges take 'fresh' rows only), and the
-- cursor moves over them when no fresh task is before them.
CREATE FUNCTION add_tasks(
  p_workflow_id text, p_step_id text, p_tasks text[], p_batch_key text, p_buckets text[], p_rate_buckets text[],
  p_delay_ms bigint,
  OUT added integer, OUT total integer
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_step steps;
  v_count integer := coalesce(array_length(p_tasks, 1), 0);
BEGIN
  PERFORM begin_events();
  PERFORM 1 FROM workflows WHERE id = p_workflow_id FOR UPDATE;
  SELECT * INTO v_step FROM steps WHERE workflow_id = p_workflow_id AND id = p_step_id;
  IF NOT FOUND THEN
    PERFORM refuse(jsonb_build_object('code', 'ERR_NOT_FOUND', 'workflowId', p_workflow_id, 'stepId', p_step_id));
  END IF;
  IF v_step.status NOT IN ('waiting', 'running') OR v_step.stage NOT IN ('before', 'before-children', 'tasks') THEN
    PERFORM refuse(step_closed(v_step, 'addTasks', NULL));
  END IF;
  IF p_batch_key IS NOT NULL THEN
    INSERT INTO task_batches (step_pk, batch_key) VALUES (v_step.pk, p_batch_key) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
      added := 0;
      total := v_step.total;
      RETURN;
    END IF;
  END IF;
  IF v_count > 0 AND p_delay_ms > 0 THEN
    INSERT INTO jobs (step_pk, seq, data, status, run_at)
    SELECT v_step.pk, v_step.next_seq + t.ord, t.data, 'requeued', now() + p_delay_ms * interval '1 millisecond'
    FROM unnest(p_tasks) WITH ORDINALITY AS t(data, ord);
    PERFORM set_buckets(v_step.pk, v_step.next_seq, p_buckets, p_rate_buckets);
    UPDATE steps SET next_seq = next_seq + v_count, total = steps.total + v_count,
      fresh_cursor = CASE WHEN fresh_cursor = next_seq THEN next_seq + v_count ELSE fresh_cursor END
    WHERE pk = v_step.pk;
    -- Idle nodes learn the new due time (runnableSteps' next_run_at).
    PERFORM emit('{"type": "wake"}'::jsonb);
  ELSIF v_count > 0 THEN
    INSERT INTO jobs (step_pk, seq, data)
    SELECT v_step.pk, v_step.next_seq + t.ord, t.data FROM unnest(p_tasks) WITH ORDINALITY AS t(data, ord);
    PERFORM set_buckets(v_step.pk, v_step.next_seq, p_buckets, p_rate_buckets);
    UPDATE steps SET next_seq = next_seq + v_count, total = steps.total + v_count WHERE pk = v_step.pk;
    IF v_step.status = 'running' AND v_step.stage = 'tasks' THEN
      PERFORM step_work(p_workflow_id, p_step_id);
    END IF;
  END IF;
  PERFORM flush_events();
  added := v_count;
  total := v_step.total + v_count;
END
$$;

-- Entry point: turns nextTask publishing on for a workflow.
CREATE FUNCTION watch_next_task(p_workflow_id text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM begin_events();
  UPDATE workflows SET watch_next_task = true WHERE id = p_workflow_id;
  PERFORM emit(jsonb_build_object('type', 'watch', 'workflowId', p_workflow_id));
  PERFORM flush_events();
END
$$;
