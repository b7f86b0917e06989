-- heartbeat.lua: extends a node's lease, which covers every job it holds.
--
-- KEYS[1] nodes   KEYS[2] nodeinfo   (see register-node.lua)
-- ARGV[1] node id   ARGV[2] leaseMs
-- Returns { 1, expiresAt, tag }, or { 0 } when the node was declared dead (not registered).

if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return { 0 } end
local info = redis.call('HGET', KEYS[2], ARGV[1])
if not info then return { 0 } end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = string.format('%d', now + tonumber(ARGV[2]))
local tag, started, rest = string.match(info, '^(%d+)|%d+|(%d+)|%d+|(.*)$')
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], tag .. '|' .. ARGV[2] .. '|' .. started .. '|' .. string.format('%d', now) .. '|' .. rest)
return { 1, expires, tag }
