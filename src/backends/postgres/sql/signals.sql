-- Events between workflows. Each query is one call of an entry function (functions/11_signals.sql).

-- name: deliverEvent
-- ($1 workflow id, $2 event id, $3 name, $4 data JSON, $5 adopting node id or NULL, $6 its handler
-- keys, $7 jobs per adopted step, $8 claim call, $9 its queues)
SELECT delivered, events, adopted, pg_backend_pid() AS pid FROM deliver_event($1, $2, $3, $4, $5, $6::text[], $7, $8::bigint, $9::text[]);

-- name: broadcastEvent
-- ($1 event id, $2 name, $3 data JSON, $4 business key or NULL for every unfinished workflow)
SELECT delivered, events, pg_backend_pid() AS pid FROM broadcast_event($1, $2, $3, $4);

-- name: expireWaits
-- ($1 limit)
SELECT expired, events, pg_backend_pid() AS pid FROM expire_waits($1);

-- name: getEvents
SELECT id, name, data, epoch_ms(at) AS at FROM workflow_events WHERE workflow_id = $1 ORDER BY seq;
