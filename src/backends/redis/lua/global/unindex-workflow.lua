-- unindex-workflow.lua: removes a workflow from every per-prefix index (it was removed, or
-- its keys expired, or it never came to exist).
--
-- KEYS[1] active  KEYS[2] bytime  KEYS[3] byname  KEYS[4] wmeta  KEYS[5] runnable  KEYS[6] hintv
-- KEYS[7] expiry  KEYS[8] bykey  KEYS[9] wkey  KEYS[10] wqueues
-- (see index-workflow.lua, hint.lua, finished.lua, workflow-queues.lua)
-- ARGV[1] workflow id   ARGV[2] createdAt (15 digits) of the entry to remove, '' = the one in wmeta
-- ARGV[3] name, ARGV[4] business key of that entry ('' = as indexed in wmeta / wkey)
-- Returns 1 when the indexed entry was removed.

--- @include queue-hints

local id = ARGV[1]
local meta = redis.call('HGET', KEYS[4], id)
local stamp, name = nil, nil
if meta then stamp, name = string.match(meta, '^(%d+):(.*)$') end
local key = redis.call('HGET', KEYS[9], id) or nil
local entry_name = ARGV[3] ~= '' and ARGV[3] or name
local entry_key = ARGV[4] ~= '' and ARGV[4] or key
if ARGV[2] ~= '' and (ARGV[2] ~= stamp or entry_name ~= name or entry_key ~= key) then
  -- A stale duplicate (a second create of an existing id): remove only that entry.
  if ARGV[2] ~= stamp then redis.call('ZREM', KEYS[2], ARGV[2] .. ':' .. id) end
  if entry_name and (ARGV[2] ~= stamp or entry_name ~= name) then
    redis.call('ZREM', KEYS[3], entry_name .. '\0' .. ARGV[2] .. ':' .. id)
  end
  if entry_key and (ARGV[2] ~= stamp or entry_key ~= key) then
    redis.call('ZREM', KEYS[8], entry_key .. '\0' .. ARGV[2] .. ':' .. id)
  end
  return 0
end
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[5], id)
for _, hint_key in ipairs(hint_keys(KEYS[5], KEYS[10], id)) do redis.call('ZREM', hint_key, id) end
redis.call('HDEL', KEYS[10], id)
redis.call('HDEL', KEYS[6], id)
redis.call('ZREM', KEYS[7], id)
if key then
  if stamp then redis.call('ZREM', KEYS[8], key .. '\0' .. stamp .. ':' .. id) end
  redis.call('HDEL', KEYS[9], id)
end
if stamp then
  redis.call('ZREM', KEYS[2], stamp .. ':' .. id)
  redis.call('ZREM', KEYS[3], name .. '\0' .. stamp .. ':' .. id)
  redis.call('HDEL', KEYS[4], id)
  return 1
end
return 0
