-- schedule-save.lua: creates or replaces a schedule (docs/concepts.md#schedules). Its last tick
-- and last workflow id are kept: a schedule saved again does not fire ticks it already fired.
-- `saved_at` is the server's clock.
--
-- KEYS[1] schedule:<name> HASH   KEYS[2] schedules SET
-- ARGV[1] name  ARGV[2] cron  ARGV[3] timezone ('' = UTC)  ARGV[4] workflow  ARGV[5] input JSON
-- ARGV[6] overlap  ARGV[7] catch-up
-- Returns 1 when the schedule is new.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local created = redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'cron', ARGV[2], 'timezone', ARGV[3], 'workflow', ARGV[4], 'input', ARGV[5],
  'overlap', ARGV[6], 'catch_up', ARGV[7], 'saved_at', now)
return created
