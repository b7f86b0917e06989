-- hints.lua: workflows that may have claimable work now, oldest hint first (read only).
--
-- KEYS[1] runnable (see hint.lua)
-- ARGV[1] limit
-- Returns { now, ids[], nextRunAt or '' } (nextRunAt: earliest hint in the future).

local t = redis.call('TIME')
local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local later = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
return { now, due, later[2] or '' }
