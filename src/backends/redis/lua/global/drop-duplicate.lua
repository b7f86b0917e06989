-- drop-duplicate.lua: a create found its workflow id taken (idempotent starts racing): the index
-- entries its index-workflow call added are removed, and the per-id records (wmeta, wkey, the
-- active score) made to describe the workflow that exists, whichever call indexed first.
--
-- KEYS[1] active  KEYS[2] bytime  KEYS[3] byname  KEYS[4] wmeta  KEYS[5] bykey  KEYS[6] wkey
-- ARGV[1] workflow id
-- ARGV[2] createdAt (15 digits), ARGV[3] name, ARGV[4] business key ('' = none) of this call's entries
-- ARGV[5] createdAt (15 digits), ARGV[6] name, ARGV[7] business key ('' = none) of the existing workflow

local id = ARGV[1]
local mine_stamp, mine_name, mine_key = ARGV[2], ARGV[3], ARGV[4]
local real_stamp, real_name, real_key = ARGV[5], ARGV[6], ARGV[7]
if mine_stamp ~= real_stamp then redis.call('ZREM', KEYS[2], mine_stamp .. ':' .. id) end
if mine_stamp ~= real_stamp or mine_name ~= real_name then
  redis.call('ZREM', KEYS[3], mine_name .. '\0' .. mine_stamp .. ':' .. id)
end
if mine_key ~= '' and (mine_stamp ~= real_stamp or mine_key ~= real_key) then
  redis.call('ZREM', KEYS[5], mine_key .. '\0' .. mine_stamp .. ':' .. id)
end
if redis.call('HEXISTS', KEYS[4], id) == 1 then
  redis.call('HSET', KEYS[4], id, real_stamp .. ':' .. real_name)
  if real_key ~= '' then redis.call('HSET', KEYS[6], id, real_key) else redis.call('HDEL', KEYS[6], id) end
end
redis.call('ZADD', KEYS[1], 'XX', string.format('%d', tonumber(real_stamp)), id)
return 1
