-- queue-hints.lua: the runnable hint sets a workflow belongs in (global scripts). A workflow
-- whose steps all use the default queue (no wqueues entry) is hinted in `runnable` alone, as
-- before queues existed; one with other queues is hinted in one set per queue it uses:
-- `runnable` for 'default', `<runnable>:q:<queue>` for the others (same hash tag, same slot),
-- so a node reads only the hints of the queues it serves (hints.lua).
local function queue_hint_key(runnable, queue)
  if queue == 'default' then return runnable end
  return runnable .. ':q:' .. queue
end

local function hint_keys(runnable, wqueues, id)
  local queues = redis.call('HGET', wqueues, id)
  if not queues then return { runnable } end
  local keys = {}
  for queue in string.gmatch(queues, '[^,]+') do keys[#keys + 1] = queue_hint_key(runnable, queue) end
  if #keys == 0 then keys[1] = runnable end
  return keys
end
