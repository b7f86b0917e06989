-- unindex-workflow.lua: removes a workflow from every per-prefix index (it was removed, or
-- its keys expired, or it never came to exist).
--
-- KEYS[1] active  KEYS[2] bytime  KEYS[3] byname  KEYS[4] wmeta  KEYS[5] runnable  KEYS[6] hintv
-- KEYS[7] expiry  (see index-workflow.lua, hint.lua, finished.lua)
-- ARGV[1] workflow id   ARGV[2] createdAt (15 digits) of the entry to remove, '' = the one in wmeta
-- Returns 1 when the indexed entry was removed.

local id = ARGV[1]
local meta = redis.call('HGET', KEYS[4], id)
local stamp, name = nil, nil
if meta then stamp, name = string.match(meta, '^(%d+):(.*)$') end
if ARGV[2] ~= '' and ARGV[2] ~= stamp then
  -- A stale duplicate (a second create of an existing id): remove only that entry.
  redis.call('ZREM', KEYS[2], ARGV[2] .. ':' .. id)
  if name then redis.call('ZREM', KEYS[3], name .. '\0' .. ARGV[2] .. ':' .. id) end
  return 0
end
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[5], id)
redis.call('HDEL', KEYS[6], id)
redis.call('ZREM', KEYS[7], id)
if stamp then
  redis.call('ZREM', KEYS[2], stamp .. ':' .. id)
  redis.call('ZREM', KEYS[3], name .. '\0' .. stamp .. ':' .. id)
  redis.call('HDEL', KEYS[4], id)
  return 1
end
return 0
