-- sweep.lua: finished workflows whose retention ran out (their keys expire by TTL; the
-- caller removes what is left and their index entries). Read only.
--
-- KEYS[1] expiry  ZSET workflow id -> expireAt (see finished.lua)
-- ARGV[1] limit
-- Returns the ids.

local t = redis.call('TIME')
local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
