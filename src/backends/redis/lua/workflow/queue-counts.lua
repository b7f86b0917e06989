-- queue-counts.lua: ready and leased jobs of one workflow's running steps, by queue (read only;
-- the metrics gauge deflow_queue_jobs, RedisBackend.queueCounts).
--
-- KEYS: the thirteen workflow keys (see lib/core.lua); sx, st, js, rq, dl and held are read.
-- No ARGV. Returns flat { queue, ready, leased } per running step with either.
-- Ready: fresh tasks past the cursor, requeued ones, delayed ones now due, a claimable hook.
-- Leased: jobs leased alone, and tasks leased in a range: a range lease stays recorded until its
-- step finishes, so those are derived from the counts (cursor - done - failed - other states).

--- @include number

local K_SX, K_ST, K_JS, K_RQ, K_DL, K_HELD = KEYS[2], KEYS[3], KEYS[5], KEYS[7], KEYS[8], KEYS[10]
local SPAN = 67108864
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- Per step: tasks leased alone, hooks leased, delayed tasks (all, due).
local held, held_hook = {}, {}
for _, field in ipairs(redis.call('HKEYS', K_HELD)) do
  local n, slot = string.match(field, '^(%d+):(.+)$')
  if n and (slot == 'b' or slot == 'a') then held_hook[n] = true elseif n then held[n] = (held[n] or 0) + 1 end
end
local delayed, due = {}, {}
local all = redis.call('ZRANGE', K_DL, 0, -1, 'WITHSCORES')
for i = 1, #all, 2 do
  local n, slot = string.match(all[i], '^(%d+):(%d+)$')
  if n then
    delayed[n] = (delayed[n] or 0) + 1
    if (as_number(all[i + 1]) or 0) <= now then due[n] = (due[n] or 0) + 1 end
  end
end

local function queue_of(options)
  if not options or not string.find(options, '"queue"', 1, true) then return 'default' end
  local ok, o = pcall(cjson.decode, options)
  if ok and type(o) == 'table' and type(o.queue) == 'string' then return o.queue end
  return 'default'
end

local ATTRS = { 'status', 'stage', 'total', 'cur', 'done', 'failed', 'hb', 'ha', 'options', 'glim', 'klim', 'rkey' }
local out = {}
for _, n in ipairs(redis.call('HVALS', K_SX)) do
  local fields = {}
  for i, attr in ipairs(ATTRS) do fields[i] = n .. ':' .. attr end
  local a = redis.call('HMGET', K_ST, unpack(fields))
  if a[1] == 'running' then
    local ready, leased = 0, 0
    local stage = a[2]
    if stage == 'tasks' then
      local total, cur = as_number(a[3]) or 0, as_number(a[4]) or 0
      local base = tonumber(n) * SPAN
      local requeued = redis.call('ZCOUNT', K_RQ, base + 1, base + SPAN - 1)
      ready = math.max(0, total - cur) + requeued + (due[n] or 0)
      leased = held[n] or 0
      local plain = (a[10] or '') == '' and (a[11] or '') == '' and a[12] ~= '1'
      if plain then
        local settled = (as_number(a[5]) or 0) + (as_number(a[6]) or 0)
        leased = leased + math.max(0, cur - settled - leased - requeued - (delayed[n] or 0))
      end
    elseif (stage == 'before' and a[7] == '1') or (stage == 'after' and a[8] == '1') then
      local state = redis.call('HGET', K_JS, n .. ':' .. (stage == 'before' and 'b' or 'a'))
      local status, run_at = string.match(state or '', '^(%d)|[^|]*|[^|]*|[^|]*|(%d*)|')
      if state == false or state == nil then
        ready = 1
      elseif status == '4' and (as_number(run_at) or 0) <= now then
        ready = 1
      elseif held_hook[n] and status == '1' then
        leased = 1
      end
    end
    if ready > 0 or leased > 0 then
      out[#out + 1] = queue_of(a[9])
      out[#out + 1] = ready
      out[#out + 1] = leased
    end
  end
end
return out
