-- publish.lua: publishes events of this workflow (its task starts) from the workflow's own
-- server. On a Redis Cluster a message reaches subscribers through the node it was sent to:
-- sent through another node, a task start could trail the 'done' this workflow's scripts
-- publish. Sent here, the workflow's events keep one order (used on a cluster only).
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel   ARGV[3] the events, a JSON array
-- Returns 1.

--- @include number
--- @include core

redis.call('PUBLISH', CHANNEL, ARGV[3])
return 1
