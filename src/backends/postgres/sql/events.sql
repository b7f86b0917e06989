-- Event delivery: LISTEN on the schema's channel, publishing, and reading back events kept in
-- the events table (see functions/01_events.sql for the payload format).

-- name: listen
-- The channel is "deflow.<schema>"; the name is quoted server-side.
DO $$ BEGIN EXECUTE format('LISTEN %I', 'deflow.' || current_schema()); END $$;

-- name: publishEvents
-- ($1 text[] of JSON events)
SELECT publish_events($1::text[]);

-- name: eventsByIds
-- ($1 ids) Events too big for a NOTIFY payload: all the `#<id>` lines of one notification in one read
-- (anyone can NOTIFY such lines: junk costs one bounded query, and ids not stored match nothing).
SELECT id::text AS id, payload FROM events WHERE id = ANY($1::bigint[]);

-- name: recentEvents
-- Events kept for replay, from the last minute: a listener that reconnects delivers the ones it missed.
SELECT id::text AS id, payload FROM events WHERE replay AND created_at > now() - interval '1 minute' ORDER BY id;
