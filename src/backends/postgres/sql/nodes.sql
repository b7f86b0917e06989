-- Nodes, heartbeats and the watchdog (functions/06_nodes.sql).

-- name: registerNode
-- ($1 id, $2 host, $3 pid, $4 handlers, $5 lease ms, $6 queues)
SELECT register_node($1, $2, $3, $4::jsonb, $5, $6::jsonb);

-- name: heartbeat
-- ($1 id, $2 lease ms, $3 held step pks or null, $4 held seqs or null, $5 the last call number
--  sent before the held list was taken: only jobs claimed up to it are reconciled)
SELECT heartbeat($1, $2, $3::bigint[], $4::integer[], $5::bigint) AS alive;

-- name: unregisterNode
SELECT unregister_node($1);

-- name: recoverExpired
-- ($1 limit, $2 minimum interval between two runs, ms, $3 the record a lost attempt stores,
--  $4 the node-loss minimum attempts: src/backends/failures.ts and policy.ts)
SELECT recovered, nodes_removed, events, pg_backend_pid() AS pid FROM recover_expired($1, $2, $3::jsonb, $4);

-- name: listNodes
SELECT id, host, pid, handlers, queues, epoch_ms(started_at) AS started_at, epoch_ms(heartbeat_at) AS heartbeat_at,
       epoch_ms(lease_expires_at) AS lease_expires_at
FROM nodes ORDER BY started_at, id;
