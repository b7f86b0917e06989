-- watch.lua: turns nextTask publishing on for a workflow and tells every process.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- Returns 1, or 0 when the workflow does not exist.

--- @include number
--- @include core

if redis.call('EXISTS', K_WF) == 0 then return 0 end
redis.call('HSET', K_WF, 'watch', 1)
redis.call('PUBLISH', CHANNEL, '[{"type":"watch","workflowId":' .. W_JSON .. '}]')
return 1
