-- Queries on nodes (one row per process that joined) and the event log.

-- name: registerNode
INSERT INTO nodes (id, host, pid, handlers, queues, started_at, heartbeat_at, lease_expires_at)
VALUES (@id, @host, @pid, @handlers, @queues, @now, @now, @expiresAt)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = @now, lease_expires_at = @expiresAt, handlers = @handlers, queues = @queues
RETURNING pk;

-- name: heartbeat
UPDATE nodes SET heartbeat_at = @now, lease_expires_at = @expiresAt WHERE id = @id;

-- name: deleteNode
DELETE FROM nodes WHERE id = ? RETURNING pk;

-- name: deleteExpiredNodes
DELETE FROM nodes WHERE lease_expires_at < ? RETURNING pk, id;

-- name: nodeExists
SELECT pk FROM nodes WHERE id = ?;

-- name: listNodes
SELECT * FROM nodes ORDER BY started_at;

-- name: insertEvent
INSERT INTO events (origin, payload, created_at) VALUES (?, ?, ?);

-- name: eventsAfter
SELECT id, origin, payload FROM events WHERE id > ? ORDER BY id LIMIT 1000;

-- name: lastEventId
SELECT COALESCE(MAX(id), 0) AS id FROM events;

-- name: pruneEvents
DELETE FROM events WHERE created_at < ?;
