-- index-workflow.lua: adds a workflow to the per-prefix indexes before it is created (so a
-- crash right after creating it cannot leave it unlisted or unrecoverable). Entries of a
-- workflow that never came to exist are removed by readers and by reconciliation; those of a
-- second create of an existing id by its caller (drop-duplicate.lua).
--
-- KEYS[1] active  ZSET unfinished workflows, score createdAt
-- KEYS[2] bytime  ZSET all workflows, score 0, member "<createdAt 15 digits>:<id>" (newest last)
-- KEYS[3] byname  ZSET all workflows, score 0, member "<name>\0<createdAt 15 digits>:<id>"
-- KEYS[4] wmeta   HASH id -> "<createdAt 15 digits>:<name>" (to find the members again)
-- KEYS[5] bykey   ZSET workflows with a business key, score 0, member "<key>\0<createdAt 15 digits>:<id>"
-- KEYS[6] wkey    HASH id -> business key (to find its bykey member again)
-- ARGV[1] workflow id   ARGV[2] workflow name   ARGV[3] business key ('' = none)
-- Returns the createdAt to store (ms, Redis clock).

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stamp = string.format('%015d', now)
redis.call('ZADD', KEYS[1], 'NX', string.format('%d', now), ARGV[1])
redis.call('ZADD', KEYS[2], 0, stamp .. ':' .. ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[2] .. '\0' .. stamp .. ':' .. ARGV[1])
local first = redis.call('HSETNX', KEYS[4], ARGV[1], stamp .. ':' .. ARGV[2])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[5], 0, ARGV[3] .. '\0' .. stamp .. ':' .. ARGV[1])
  if first == 1 then redis.call('HSET', KEYS[6], ARGV[1], ARGV[3]) end
end
return now
