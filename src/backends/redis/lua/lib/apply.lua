-- apply.lua: recording job outcomes (fenced) and recovered attempts. Included after
-- core.lua and machine.lua. Counts are tallied per step and applied once at the end, then
-- the touched steps advance.
--
-- Fencing: a job leased in a range (token 0) must still be fresh (no state) and inside the
-- step's leased range; a job leased alone must still be leased (status 1) with that token.

-- State (TALLY, TALLY_ORDER, HOOK_STEPS, HOOK_ORDER) lives in core.lua and is reset per call.

local function tally(n)
  local t = TALLY[n]
  if not t then
    t = { done = 0, failed = 0, fseq = nil, ferr = nil }
    TALLY[n] = t
    TALLY_ORDER[#TALLY_ORDER + 1] = n
  end
  return t
end

local function hook_done(n)
  if HOOK_STEPS[n] then return end
  HOOK_STEPS[n] = true
  HOOK_ORDER[#HOOK_ORDER + 1] = n
end

local function failed_for_good(n, slot, err)
  if is_hook(slot) then return hook_done(n) end
  local t = tally(n)
  t.failed = t.failed + 1
  if not t.fseq then t.fseq, t.ferr = slot, err end
end

-- A failed (or lost) attempt that will be tried again, at once or after `delay` ms; lc: lost count.
local function requeue(n, slot, field, fc, token, err, delay, lc)
  local run_at = 0
  if delay > 0 then run_at = NOW + delay end
  redis.call('HSET', K_JS, field, make_state(4, fc, token, '', run_at, '', err, lc))
  if run_at == 0 then
    if not is_hook(slot) then redis.call('ZADD', K_RQ, I(tonumber(n) * SPAN + tonumber(slot)), field) end
    work(n)
  else
    redis.call('ZADD', K_DL, I(run_at), field)
    HAS_DELAYED = true
    mark_ready(n, run_at)
  end
end

-- Applies one outcome; false when it is stale. code: S succeeded, E succeeded with a side-hook
-- error (extra), R retry (payload = error, extra = delay ms), F failed for good (payload = error).
-- `cur` is the step's last task seq leased in a range.
local function apply_one(n, slot, token, code, payload, extra, cur)
  local field = n .. ':' .. slot
  if token == 0 then
    if is_hook(slot) or tonumber(slot) > cur then return false end
    if code == 'S' or code == 'E' then
      if redis.call('HSETNX', K_JS, field, '2|0|0||0|' .. NOWS .. '|' .. payload) == 0 then return false end
      if code == 'E' then redis.call('HSET', K_ER, field, extra) end
      local t = tally(n)
      t.done = t.done + 1
    elseif code == 'R' then
      if redis.call('HEXISTS', K_JS, field) == 1 then return false end
      requeue(n, slot, field, 1, 0, payload, tonumber(extra))
    else
      if redis.call('HSETNX', K_JS, field, make_state(3, 1, 0, '', 0, NOWS, payload)) == 0 then return false end
      failed_for_good(n, slot, payload)
    end
    return true
  end
  local s = job_state(field)
  if s == nil or s.status ~= 1 or s.token ~= token then return false end
  redis.call('HDEL', K_HELD, field)
  if code == 'S' or code == 'E' then
    redis.call('HSET', K_JS, field, make_state(2, s.fc, s.token, '', 0, NOWS, payload, s.lc))
    if code == 'E' then redis.call('HSET', K_ER, field, extra) end
    if is_hook(slot) then
      hook_done(n)
    else
      local t = tally(n)
      t.done = t.done + 1
    end
  elseif code == 'R' then
    requeue(n, slot, field, s.fc + 1, s.token, payload, tonumber(extra), s.lc)
  else
    redis.call('HSET', K_JS, field, make_state(3, s.fc + 1, s.token, '', 0, NOWS, payload, s.lc))
    failed_for_good(n, slot, payload)
  end
  return true
end

-- Applies one step's outcomes, read from ARGV at pos (see complete.lua); returns the position
-- after them. The outcomes come in blocks, so the common case costs one argument per task:
--   'N' k  slot × k                               fresh task (token 0) succeeded, no result
--   'S' k  (slot result) × k                      fresh task succeeded with a result
--   'X' k  (code slot token payload extra) × k    anything else (codes as apply_one)
-- Outcomes of fresh tasks leased in a range (the bulk of any batch) are checked with one
-- HMGET and written with a few HSETs for the whole group; jobs leased alone go one by one.
-- Stale job fields are appended to `stale`.
local function apply_group(n, pos, blocks, stale)
  local cur = snum(n, 'cur') -- nil: unusable, the step failed on it and every outcome is stale
  local prefix = n .. ':'
  local done_state = '2|0|0||0|' .. NOWS .. '|'
  local fields, codes, slots, payloads, extras, seen = {}, {}, {}, {}, {}, {}
  local function fresh(field, code, slot, payload, extra)
    if cur == nil or seen[field] or is_hook(slot) or tonumber(slot) > cur then
      stale[#stale + 1] = field
      return
    end
    seen[field] = true
    local i = #fields + 1
    fields[i], codes[i], slots[i], payloads[i], extras[i] = field, code, slot, payload, extra
  end
  for _ = 1, blocks do
    local kind, k = ARGV[pos], tonumber(ARGV[pos + 1])
    pos = pos + 2
    if kind == 'N' then
      for i = pos, pos + k - 1 do fresh(prefix .. ARGV[i], 'S', ARGV[i], '', '') end
      pos = pos + k
    elseif kind == 'S' then
      for i = pos, pos + 2 * k - 1, 2 do fresh(prefix .. ARGV[i], 'S', ARGV[i], ARGV[i + 1], '') end
      pos = pos + 2 * k
    else
      for i = pos, pos + 5 * k - 1, 5 do
        local code, slot, token, payload, extra = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
        local field = prefix .. slot
        if token == 0 then
          fresh(field, code, slot, payload, extra)
        elseif cur == nil or seen[field] then
          stale[#stale + 1] = field
        else
          seen[field] = true
          if not apply_one(n, slot, token, code, payload, extra, cur) then stale[#stale + 1] = field end
        end
      end
      pos = pos + 5 * k
    end
  end
  local t = tally(n)
  local writes = {}
  for i = 1, #fields, 1000 do
    local last = math.min(i + 999, #fields)
    local existing = redis.call('HMGET', K_JS, unpack(fields, i, last))
    for j = i, last do
      local field, code = fields[j], codes[j]
      if existing[j - i + 1] then
        stale[#stale + 1] = field -- no longer fresh: recovered, released or done already
        if not parse_state(existing[j - i + 1]) then job_state(field) end -- or junk: its step fails on it
      elseif code == 'S' or code == 'E' then
        writes[#writes + 1] = field
        writes[#writes + 1] = payloads[j] == '' and done_state or done_state .. payloads[j]
        if code == 'E' then redis.call('HSET', K_ER, field, extras[j]) end
        t.done = t.done + 1
      elseif code == 'F' then
        writes[#writes + 1] = field
        writes[#writes + 1] = make_state(3, 1, 0, '', 0, NOWS, payloads[j])
        failed_for_good(n, slots[j], payloads[j])
      else
        requeue(n, slots[j], field, 1, 0, payloads[j], tonumber(extras[j]))
      end
      if #writes >= 1000 then
        redis.call('HSET', K_JS, unpack(writes))
        writes = {}
      end
    end
  end
  if #writes > 0 then redis.call('HSET', K_JS, unpack(writes)) end
  return pos
end

-- A recovered attempt (its node died), by the node-loss rule
-- (docs/backends/step-machine.md#the-node-loss-rule): counted in the lost count, not in the
-- failed count; ready again after the retry delay, or failed for good once lost maxNodeLosses
-- times (the step's option; default_max for steps stored without it). base: the record's JSON
-- ({"code":...}), completed here with the step, the job and the counts. lc: times lost before.
local function lose_attempt(n, slot, field, fc, lc, token, base, default_max)
  local f = sfetch(n, { 'options', 'name' })
  local delay = snum(n, 'delay')
  if delay == nil then return end -- unusable: the step failed on it
  local max = default_max
  local ok, options = pcall(cjson.decode, f[1])
  if ok and type(options) == 'table' and as_number(options.maxNodeLosses) then max = as_number(options.maxNodeLosses) end
  local job = is_hook(slot) and ('"hook":"' .. (slot == 'b' and 'beforeAll' or 'afterAll') .. '"') or ('"task":' .. slot)
  local err = string.sub(base, 1, -2) .. ',"step":' .. cjson.encode(f[2]) .. ',' .. job .. ',"lostCount":' .. I(lc + 1) ..
    ',"maxNodeLosses":' .. I(max) .. '}'
  if lc + 1 >= max then
    redis.call('HSET', K_JS, field, make_state(3, fc, token, '', 0, NOWS, err, lc + 1))
    failed_for_good(n, slot, err)
  else
    requeue(n, slot, field, fc, token, err, delay, lc + 1)
  end
end

-- Applies the tallied counts and advances every touched step.
local function flush_tallies()
  for _, n in ipairs(TALLY_ORDER) do
    local t = TALLY[n]
    if t.done > 0 then sincr(n, 'done', t.done) end
    if t.failed > 0 then
      sincr(n, 'failed', t.failed)
      local first = sget(n, 'fseq')
      if not first or first == '' then sput(n, { 'fseq', t.fseq, 'ferr', t.ferr }) end
    end
    advance(n)
  end
  for _, n in ipairs(HOOK_ORDER) do advance(n) end
end
