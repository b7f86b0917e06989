-- register-node.lua: a node joins (or refreshes its registration). A node that is not
-- registered gets a new owner tag: jobs of an earlier registration of the same id belong to
-- that old tag and are recovered like those of any dead node.
--
-- KEYS[1] nodes     ZSET node id -> lease expiry (ms, Redis clock)
-- KEYS[2] nodeinfo  HASH node id -> "<tag>|<leaseMs>|<startedAt>|<heartbeatAt>|<pid>|<host>|<handlers JSON>"
-- KEYS[3] nodeseq   STRING counter of owner tags
-- ARGV[1] node id  ARGV[2] host  ARGV[3] pid  ARGV[4] handlers JSON  ARGV[5] leaseMs
-- Returns { tag, expiresAt }.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = string.format('%d', now + tonumber(ARGV[5]))
local tag, started = nil, string.format('%d', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local info = redis.call('HGET', KEYS[2], ARGV[1])
  if info then tag, started = string.match(info, '^(%d+)|%d+|(%d+)|') end
end
if not tag then tag = string.format('%d', redis.call('INCR', KEYS[3])) end
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1],
  tag .. '|' .. ARGV[5] .. '|' .. started .. '|' .. string.format('%d', now) .. '|' .. ARGV[3] .. '|' .. ARGV[2] .. '|' .. ARGV[4])
return { tag, expires }
