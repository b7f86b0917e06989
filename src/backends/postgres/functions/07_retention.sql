-- deflow PostgreSQL functions: retention.
--
-- Removing a workflow deletes its row, its steps and their small side rows at once (readers
-- stop seeing it atomically); its jobs, possibly millions, are deleted a bounded batch at a
-- time: the steps are listed in doomed_steps and every sweep deletes up to a budget of jobs.
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.
-- LANGUAGE sql bodies are checked at creation: they may call functions of earlier files only.


-- Removes a workflow and everything under it but its jobs (queued for deletion). Locks it first.
CREATE FUNCTION remove_workflow_rows(p_workflow_id text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_pks bigint[];
BEGIN
  PERFORM 1 FROM workflows WHERE id = p_workflow_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  SELECT array_agg(pk) INTO v_pks FROM steps WHERE workflow_id = p_workflow_id;
  IF v_pks IS NOT NULL THEN
    DELETE FROM task_batches WHERE step_pk = ANY(v_pks);
    DELETE FROM step_edges WHERE child_pk = ANY(v_pks);
    INSERT INTO doomed_steps (step_pk) SELECT unnest(v_pks) ON CONFLICT DO NOTHING;
    DELETE FROM steps WHERE workflow_id = p_workflow_id;
  END IF;
  DELETE FROM workflow_events WHERE workflow_id = p_workflow_id;
  DELETE FROM workflows WHERE id = p_workflow_id;
  RETURN true;
END
$$;

-- Deletes up to p_budget jobs of removed workflows; returns how many it deleted.
CREATE FUNCTION gc_jobs(p_budget integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_doomed bigint;
  v_left integer := p_budget;
  v_deleted integer;
BEGIN
  FOR v_doomed IN SELECT step_pk FROM doomed_steps ORDER BY step_pk FOR UPDATE SKIP LOCKED LOOP
    EXIT WHEN v_left <= 0;
    -- SKIP LOCKED: never wait for a node still completing a job of a removed workflow.
    DELETE FROM results WHERE step_pk = v_doomed;
    DELETE FROM jobs WHERE step_pk = v_doomed AND seq IN (
      SELECT seq FROM jobs WHERE step_pk = v_doomed ORDER BY seq LIMIT v_left FOR UPDATE SKIP LOCKED
    );
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    v_left := v_left - v_deleted;
    IF NOT EXISTS (SELECT 1 FROM jobs WHERE step_pk = v_doomed) THEN
      DELETE FROM doomed_steps WHERE step_pk = v_doomed;
    END IF;
  END LOOP;
  RETURN p_budget - v_left;
END
$$;

-- Entry point: removes a workflow (and up to 20,000 of its jobs right away).
CREATE FUNCTION remove_workflow(p_workflow_id text) RETURNS boolean
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_removed boolean;
BEGIN
  v_removed := remove_workflow_rows(p_workflow_id);
  IF v_removed THEN
    PERFORM gc_jobs(20000);
  END IF;
  RETURN v_removed;
END
$$;

-- Entry point: removes up to p_limit finished workflows whose retention (or cleanOnDone
-- grace) ran out, deletes up to p_job_budget jobs of removed workflows, and prunes events
-- older than a minute. Returns how many workflows it removed.
CREATE FUNCTION sweep(p_limit integer, p_job_budget integer) RETURNS integer
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_workflow_id text;
  v_removed integer := 0;
BEGIN
  -- Range leases outlive their step (no transition waits on a lease row); drop those of steps
  -- that finished or were removed. First, before any workflow lock: leases come first in the
  -- lock order.
  DELETE FROM leases WHERE id IN (
    SELECT l.id FROM leases l LEFT JOIN steps s ON s.pk = l.step_pk
    WHERE s.pk IS NULL OR s.status <> 'running'
    LIMIT 10000
  );
  FOR v_workflow_id IN
    SELECT id FROM workflows WHERE expires_at <= now() ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    IF remove_workflow_rows(v_workflow_id) THEN
      v_removed := v_removed + 1;
    END IF;
  END LOOP;
  PERFORM gc_jobs(p_job_budget);
  DELETE FROM events WHERE id IN (
    SELECT id FROM events WHERE created_at < now() - interval '1 minute' ORDER BY created_at LIMIT 10000
  );
  RETURN v_removed;
END
$$;
