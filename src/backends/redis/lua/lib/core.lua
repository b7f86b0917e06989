-- core.lua: shared by every workflow-slot script (included, never run alone). Loaded as
-- part of one Redis Functions library, or pasted into each EVAL script (see scripts.ts);
-- either way a call starts with begin_call(keys, args) and the code reads KEYS/ARGV locals.
--
-- Every workflow script takes the same thirteen KEYS, all under the workflow's hash tag
-- `<prefix>:{<workflowId>}:` so one script touches one cluster slot:
--   KEYS[1]  wf     HASH  the workflow: id name status options error createdAt startedAt
--                         finishedAt open (steps not terminal) runSeq watch keep (ms or '')
--                         stepSeq declSeq wv (work version) retries (retry.lua)
--   KEYS[2]  sx     HASH  stepId -> step number n (1, 2, ... in insertion order)
--   KEYS[3]  st     HASH  "<n>:<attr>" -> step attribute (see lib/insert.lua for the list)
--   KEYS[4]  td     HASH  "<n>:<seq>" -> task data JSON
--   KEYS[5]  js     HASH  "<n>:<slot>" -> job state (slot = task seq, 'b' beforeAll, 'a' afterAll);
--                         absent = fresh (never attempted)
--   KEYS[6]  er     HASH  "<n>:<seq>" -> side-hook error of a succeeded task
--   KEYS[7]  rq     ZSET  requeued tasks ready now, score n * 2^26 + seq
--   KEYS[8]  dl     ZSET  delayed jobs (retry delay), score = runAt
--   KEYS[9]  ready  ZSET  steps that may have claimable jobs, score = earliest time
--   KEYS[10] held   HASH  jobs leased alone "<n>:<slot>" -> owner tag
--   KEYS[11] rl     HASH  range leases: "<n>:<k>" -> "<n>|<lo>|<hi>|<owner>"
--   KEYS[12] bk     SET   applied addTasks batch keys "<n>:<batchKey>"
--   KEYS[13] ev     HASH  events the workflow received (lib/machine.lua, receive): i:<id> -> 1,
--                         seq (last), e:<seq> -> {id,name,at} JSON, d:<seq> -> data JSON,
--                         n:<name> -> seq of its first event, held -> "n,n" steps held back by events
-- ARGV[1] is always the workflow id and ARGV[2] the event channel; the rest is per script.
--
-- Job state string: "<status>|<failedCount>[.<lostCount>]|<token>|<owner>|<runAt>|<finishedAt>|<tail>"
--   status 1 leased alone, 2 succeeded (tail = result JSON, '' = none), 3 failed (tail = error),
--   4 ready again (tail = last error). A fresh task leased in a range has no state at all.
--   lostCount (times lost with its node, see lib/apply.lua lose_attempt) is written only when
--   it is not 0.

local K_WF, K_SX, K_ST, K_TD, K_JS, K_ER, K_RQ, K_DL, K_READY, K_HELD, K_RL, K_BK, K_EV
local WID, CHANNEL, W_JSON, NOW, NOWS
-- Task seqs of step n are scored n * SPAN + seq in rq (a step's tasks are one score range).
local SPAN = 67108864

-- Per-call state (reset by begin_call: with Redis Functions the library outlives a call).
local ALL_EVENTS, PUBLIC_EVENTS -- events in firing order; public ones go to other processes
local WORK_CHANGED, WORK_EVENT_SENT, WORK_STEPS -- work appeared (bump wv); steps announced, in order
local TOUCHED, FINISHED, advancing -- lib/machine.lua
local TALLY, TALLY_ORDER, HOOK_STEPS, HOOK_ORDER -- lib/apply.lua
local SC, SDIRTY, SDIRTY_SET -- step attributes of this call: n -> { attr -> value }; changed ones (see sget)
local WF_RUNNING -- the workflow is known to be running with its startedAt set (machine.lua)
local HAS_DELAYED -- nil: not checked yet in this call; whether `dl` holds any job
local CORRUPT -- records of stored numbers found unusable in this call (see num), for the node to report
local corrupt_step -- set by machine.lua: fails a step whose stored number is unusable
local FAILS_STEPS -- this script runs the step machine (includes machine.lua, ends in its reply)
local WF_CORRUPT -- the record of an unusable number in the workflow's own hash: it fails (machine.lua)

local function I(x)
  return string.format('%d', x)
end

-- Starts a workflow-script call: its keys, arguments, Redis's clock, fresh state.
-- machine: whether the script includes machine.lua (scripts.ts passes it).
local function begin_call(keys, args, machine)
  set_call(keys, args)
  FAILS_STEPS = machine
  K_WF, K_SX, K_ST, K_TD, K_JS, K_ER, K_RQ, K_DL, K_READY, K_HELD, K_RL, K_BK, K_EV =
    keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], keys[8], keys[9], keys[10], keys[11], keys[12], keys[13]
  WID, CHANNEL = args[1], args[2]
  W_JSON = cjson.encode(WID)
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  NOWS = I(NOW)
  ALL_EVENTS, PUBLIC_EVENTS = {}, {}
  WORK_CHANGED, WORK_EVENT_SENT, WORK_STEPS = false, {}, {}
  TOUCHED, FINISHED, advancing = false, nil, {}
  TALLY, TALLY_ORDER, HOOK_STEPS, HOOK_ORDER = {}, {}, {}, {}
  SC, SDIRTY, SDIRTY_SET = {}, {}, {}
  WF_RUNNING = false
  HAS_DELAYED = nil
  CORRUPT = {}
  WF_CORRUPT = nil
end

-- Every number a workflow script reads back from the store goes through num (lib/number.lua
-- says why). Returns the number, or nil after recording an
-- ERR_CORRUPT_RECORD naming the field (step: its id, when the field is a step's), so the
-- caller fails what the field belongs to and the node reports it (reply's last element).
local function corrupt_record(v, field, step)
  local record = '{"code":"ERR_CORRUPT_RECORD","workflowId":' .. W_JSON
  if step then record = record .. ',"stepId":' .. cjson.encode(step) end
  CORRUPT[#CORRUPT + 1] = record .. ',"field":' .. cjson.encode(field) .. ',"value":' ..
    cjson.encode(string.sub(tostring(v or ''), 1, 40)) .. '}'
  return CORRUPT[#CORRUPT]
end

local function num(v, field, step)
  local x = as_number(v)
  if x then return x end
  corrupt_record(v, field, step)
  return nil
end

-- Adds `by` to a number kept in the workflow's hash (absent: 0) and returns it; nil when the
-- field holds something else: the workflow then fails when the call settles (machine.lua).
local function wincr(field, by)
  local v = redis.call('HGET', K_WF, field)
  local x = 0
  if v then x = num(v, field) end
  if x == nil then
    WF_CORRUPT = WF_CORRUPT or CORRUPT[#CORRUPT]
    TOUCHED = true
    return nil
  end
  x = x + by
  redis.call('HSET', K_WF, field, I(x))
  return x
end

local function emit(json, public)
  ALL_EVENTS[#ALL_EVENTS + 1] = json
  if public then PUBLIC_EVENTS[#PUBLIC_EVENTS + 1] = json end
end

-- Step attributes go through a per-call cache: a transition reads and writes the same few
-- attributes of a step many times, and every redis.call costs microseconds. Reads fill the
-- cache (sfetch: several in one HMGET); writes stay in it and go out as one HSET when the call
-- ends (flush_steps, run by the script wrapper, see scripts.ts). Nothing in a call reads `st`
-- except through sget/sfetch.
local function row(n)
  local r = SC[n]
  if r == nil then
    r = {}
    SC[n] = r
  end
  return r
end

local function sget(n, attr)
  local r = row(n)
  local v = r[attr]
  if v == nil then
    v = redis.call('HGET', K_ST, n .. ':' .. attr)
    r[attr] = v
  end
  return v
end

-- Makes sure these attributes of step n are cached (one HMGET for the missing ones) and
-- returns the step's cache row: row.status, row.stage, ...
local function sload(n, attrs)
  local r = row(n)
  local missing
  for _, attr in ipairs(attrs) do
    if r[attr] == nil then
      missing = missing or {}
      missing[#missing + 1] = attr
    end
  end
  if missing then
    local fields = {}
    for i, attr in ipairs(missing) do fields[i] = n .. ':' .. attr end
    local values = redis.call('HMGET', K_ST, unpack(fields))
    for i, attr in ipairs(missing) do r[attr] = values[i] end
  end
  return r
end

-- Several attributes at once, as a list in the order asked.
local function sfetch(n, attrs)
  local r = sload(n, attrs)
  local out = {}
  for i, attr in ipairs(attrs) do out[i] = r[attr] end
  return out
end

local function mark(n, attr)
  local field = n .. ':' .. attr
  if SDIRTY_SET[field] then return end
  SDIRTY_SET[field] = true
  SDIRTY[#SDIRTY + 1] = n
  SDIRTY[#SDIRTY + 1] = attr
end

local function sset(n, attr, value)
  row(n)[attr] = tostring(value)
  mark(n, attr)
end

-- Writes several attributes: sput(n, { attr, value, attr, value, ... }). `new`: a step being
-- inserted (nothing to read first).
local function sput(n, pairs, new)
  local r = SC[n]
  if r == nil then
    if new then
      r = {}
      SC[n] = r
    else
      r = row(n)
    end
  end
  for i = 1, #pairs, 2 do
    r[pairs[i]] = tostring(pairs[i + 1])
    mark(n, pairs[i])
  end
end

-- A step's numeric attribute; nil when it is unusable, and then the step is failed (by scripts
-- that run the machine: the others only read, and treat the step as having work, so a node
-- claims it and the claim fails it).
local function snum(n, attr)
  local v = sget(n, attr)
  local x = num(v, attr, sget(n, 'id'))
  if x == nil and FAILS_STEPS then corrupt_step(n, CORRUPT[#CORRUPT]) end
  return x
end

-- Adds to a counter attribute; nil when the stored count is unusable (the step fails).
local function sincr(n, attr, by)
  local current = snum(n, attr)
  if current == nil then return nil end
  local value = current + by
  sset(n, attr, I(value))
  return value
end

-- Writes the step attributes changed in this call (one HSET per 500 of them).
local function flush_steps()
  if #SDIRTY == 0 then return end
  local args = {}
  for i = 1, #SDIRTY, 2 do
    local n, attr = SDIRTY[i], SDIRTY[i + 1]
    args[#args + 1] = n .. ':' .. attr
    args[#args + 1] = SC[n][attr]
  end
  for i = 1, #args, 1000 do redis.call('HSET', K_ST, unpack(args, i, math.min(i + 999, #args))) end
  SDIRTY, SDIRTY_SET = {}, {}
end

local function parse_state(v)
  if not v then return nil end
  local s, fc, lc, tok, own, run, fin, pos = string.match(v, '^(%d)|(%d+)%.?(%d*)|(%d+)|([^|]*)|(%d+)|(%d*)|()')
  if not s then return nil end
  return { status = tonumber(s), fc = tonumber(fc), lc = tonumber(lc) or 0, token = tonumber(tok), owner = own,
    runAt = tonumber(run), fin = fin, tail = string.sub(v, pos) }
end

-- A job's state (`js` field "<n>:<slot>"); nil when it has none, or when it is not one deflow
-- wrote: then, like an unusable number (snum), its step fails on it (field 'job state').
local function job_state(field)
  local v = redis.call('HGET', K_JS, field)
  local s = parse_state(v)
  if v and not s then
    local n = string.match(field, '^(%d+):')
    local record = corrupt_record(v, 'job state', n and sget(n, 'id'))
    if n and FAILS_STEPS then corrupt_step(n, record) end
  end
  return s
end

-- lc: the lost count (nil or 0 for none).
local function make_state(status, fc, token, owner, run_at, fin, tail, lc)
  local counts = I(fc)
  if lc and lc > 0 then counts = counts .. '.' .. I(lc) end
  return status .. '|' .. counts .. '|' .. I(token) .. '|' .. owner .. '|' .. I(run_at) .. '|' .. fin .. '|' .. tail
end

local function is_hook(slot)
  return slot == 'b' or slot == 'a'
end

local function split(list)
  local out = {}
  if list then
    for item in string.gmatch(list, '[^,]+') do out[#out + 1] = item end
  end
  return out
end

-- --- claimable work -------------------------------------------------------------------------
-- `ready` holds every step that has (or may have) claimable jobs, scored by the earliest time
-- one is claimable. The workflow's work version `wv` grows whenever work appears, so the
-- global hint index can tell a stale "nothing to do" from a fresh one.
local function mark_ready(n, at)
  redis.call('ZADD', K_READY, 'LT', I(at), n)
  WORK_CHANGED = true
end

-- Jobs of step n may be claimable now: a `work` event (once per step and script) and the index.
local function work(n)
  mark_ready(n, NOW)
  if WORK_EVENT_SENT[n] then return end
  WORK_EVENT_SENT[n] = true
  WORK_STEPS[#WORK_STEPS + 1] = n
  emit('{"type":"work","workflowId":' .. W_JSON .. ',"stepId":' .. cjson.encode(sget(n, 'id')) .. '}', false)
end

local function hook_claimable(n, slot)
  local s = job_state(n .. ':' .. slot)
  return s == nil or (s.status == 4 and s.runAt <= NOW)
end

local function requeued_any(n)
  local base = tonumber(n) * SPAN
  return #redis.call('ZRANGEBYSCORE', K_RQ, I(base + 1), I(base + SPAN - 1), 'LIMIT', 0, 1) > 0
end

local CLAIMABLE_ATTRS = { 'status', 'stage', 'cur', 'total', 'hb', 'ha' }
local function claimable_now(n)
  local r = sload(n, CLAIMABLE_ATTRS)
  if r.status ~= 'running' then return false end
  if r.stage == 'tasks' then
    local cur, total = snum(n, 'cur'), snum(n, 'total')
    if cur == nil or total == nil then return not FAILS_STEPS end
    if cur < total then return true end
    return requeued_any(n)
  elseif r.stage == 'before' then
    return r.hb == '1' and hook_claimable(n, 'b')
  elseif r.stage == 'after' then
    return r.ha == '1' and hook_claimable(n, 'a')
  end
  return false
end

-- Whether any job of the workflow waits for a retry delay (one EXISTS per call at most).
local function has_delayed()
  if HAS_DELAYED == nil then HAS_DELAYED = redis.call('EXISTS', K_DL) == 1 end
  return HAS_DELAYED
end

-- Earliest delayed job of step n (a scan of the delayed set, which holds only waiting retries).
local function delayed_min(n)
  if not has_delayed() then return nil end
  local prefix = n .. ':'
  local all = redis.call('ZRANGE', K_DL, 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, #prefix) == prefix then return all[i + 1] end
  end
  return nil
end

-- Re-scores step n in `ready` after its jobs were claimed: kept while claimable, moved to its
-- earliest delayed job, or removed.
local function settle_ready(n)
  if claimable_now(n) then return end
  local at = delayed_min(n)
  if at then
    redis.call('ZADD', K_READY, at, n)
  else
    redis.call('ZREM', K_READY, n)
  end
end

-- Delayed jobs whose time came: tasks join the requeued set (hooks are claimable by state).
local function promote_due()
  if not has_delayed() then return end
  local due = redis.call('ZRANGEBYSCORE', K_DL, '-inf', NOWS)
  for _, field in ipairs(due) do
    local n, slot = string.match(field, '^(%d+):(.+)$')
    if n and not is_hook(slot) and as_number(slot) then -- else not a job deflow delayed: dropped
      redis.call('ZADD', K_RQ, I(tonumber(n) * SPAN + as_number(slot)), field)
    end
    redis.call('ZREM', K_DL, field)
  end
end
