-- schedule-claim.lua: records that a tick of a schedule was handled, only when its last tick
-- is unset or earlier: ticks only move forward, whichever node races.
--
-- KEYS[1] schedule:<name> HASH
-- ARGV[1] tick (epoch ms)  ARGV[2] workflow id ('' = a skipped tick: the last one is kept)
-- Returns 1 when the tick was recorded, 0 when the schedule is gone or already at it or later.

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local tick = tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'last_tick') or '')
if last ~= nil and last >= tick then return 0 end
redis.call('HSET', KEYS[1], 'last_tick', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'last_workflow_id', ARGV[2]) end
return 1
