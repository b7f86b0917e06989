-- deflow PostgreSQL functions: events and their delivery.
--
-- Operations collect the events their transitions fire in a transaction-local setting
-- (deflow.events, one JSON event per line) through emit(); the operation's entry function
-- ends with flush_events(), which NOTIFYs them on the schema's channel ("deflow.<schema>")
-- and returns them to the caller. NOTIFY is delivered at commit, only if the transaction
-- commits: a transition is announced exactly when it happened.
--
-- A NOTIFY payload is one or more lines:
--   {json}          an event
--   <id> {json}     an event also kept in the events table (step and workflow ends), so a
--                   listener that lost its connection can replay what it missed
--   #<id>           an event too big for a payload (a nextTask with large data): read it
--                   from the events table
--
-- Repeatable: every function here is defined once, in its current version. The migrator runs
-- this file again whenever its content changes, after dropping the functions it created last
-- time (so a signature may change freely); edit the function here, never copy it elsewhere.
-- LANGUAGE sql bodies are checked at creation: they may call functions of earlier files only.


-- Milliseconds are the resolution of every stored instant (records carry epoch milliseconds).
CREATE FUNCTION ms_now() RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT date_trunc('milliseconds', now())
$$;

CREATE FUNCTION epoch_ms(p_at timestamptz) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT (extract(epoch FROM p_at) * 1000)::float8
$$;

-- A whole number read from a stored jsonb record, or NULL when it holds something else: records
-- may have been written by others (docs/backends/step-machine.md, "Corrupt records"), and a failed
-- cast would fail every operation on the workflow. Nested CASEs: the cast runs only on a number.
CREATE FUNCTION json_bigint(p_value jsonb) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(p_value) = 'number' THEN
    CASE WHEN abs(p_value::numeric) < 9e18 THEN floor(p_value::numeric)::bigint END
  END
$$;

CREATE FUNCTION emit(p_event jsonb) RETURNS void LANGUAGE sql AS $$
  SELECT set_config('deflow.events', coalesce(current_setting('deflow.events', true), '') || p_event::text || E'\n', true)
$$;

-- Starts an operation's event buffer (an operation is one entry function call).
CREATE FUNCTION begin_events() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('deflow.events', '', true)
$$;

-- Sends event lines in as few notifications as the 8000-byte payload limit allows.
CREATE FUNCTION notify_lines(p_lines text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_channel text := 'deflow.' || current_schema();
  v_packed text := '';
  v_line text;
  v_id bigint;
BEGIN
  IF p_lines IS NULL THEN
    RETURN;
  END IF;
  FOREACH v_line IN ARRAY p_lines LOOP
    IF octet_length(v_line) > 7900 THEN
      INSERT INTO events (payload, replay) VALUES (v_line::jsonb, false) RETURNING id INTO v_id;
      v_line := '#' || v_id;
    END IF;
    IF v_packed <> '' AND octet_length(v_packed) + octet_length(v_line) + 1 > 7900 THEN
      PERFORM pg_notify(v_channel, v_packed);
      v_packed := '';
    END IF;
    v_packed := CASE WHEN v_packed = '' THEN v_line ELSE v_packed || E'\n' || v_line END;
  END LOOP;
  IF v_packed <> '' THEN
    PERFORM pg_notify(v_channel, v_packed);
  END IF;
END
$$;

-- Publishes the events emitted since begin_events() and returns them, in order; those kept
-- for replay carry their id as "eid" (the caller removes it).
CREATE FUNCTION flush_events() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_buffered text := rtrim(coalesce(current_setting('deflow.events', true), ''), E'\n');
  v_events jsonb[] := '{}';
  v_lines text[] := '{}';
  v_line text;
  v_event jsonb;
  v_id bigint;
BEGIN
  IF v_buffered = '' THEN
    RETURN '[]'::jsonb;
  END IF;
  PERFORM set_config('deflow.events', '', true);
  FOREACH v_line IN ARRAY string_to_array(v_buffered, E'\n') LOOP
    v_event := v_line::jsonb;
    IF v_event->>'type' IN ('step', 'workflow') THEN
      INSERT INTO events (payload, replay) VALUES (v_event, true) RETURNING id INTO v_id;
      v_lines := v_lines || (v_id::text || ' ' || v_line);
      v_events := v_events || (v_event || jsonb_build_object('eid', v_id::text));
    ELSE
      v_lines := v_lines || v_line;
      v_events := v_events || v_event;
    END IF;
  END LOOP;
  PERFORM notify_lines(v_lines);
  RETURN to_jsonb(v_events);
END
$$;

-- Entry point: publishes events given by a node (nextTask, watch...).
CREATE FUNCTION publish_events(p_lines text[]) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM notify_lines(p_lines);
END
$$;
