-- core.lua: shared by every workflow-slot script (included, never run alone).
--
-- Every workflow script takes the same twelve KEYS, all under the workflow's hash tag
-- `<prefix>:{<workflowId>}:` so one script touches one cluster slot:
--   KEYS[1]  wf     HASH  the workflow: id name status options error createdAt startedAt
--                         finishedAt open (steps not terminal) runSeq watch keep (ms or '')
--                         stepSeq declSeq wv (work version) rlSeq
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
--   KEYS[11] rl     HASH  range leases: id -> "<n>|<lo>|<hi>|<owner>"
--   KEYS[12] bk     SET   applied addTasks batch keys "<n>:<batchKey>"
-- ARGV[1] is always the workflow id and ARGV[2] the event channel; the rest is per script.
--
-- Job state string: "<status>|<failedCount>|<token>|<owner>|<runAt>|<finishedAt>|<tail>"
--   status 1 leased alone, 2 succeeded (tail = result JSON, '' = none), 3 failed (tail = error),
--   4 ready again (tail = last error). A fresh task leased in a range has no state at all.

local K_WF, K_SX, K_ST, K_TD, K_JS, K_ER, K_RQ, K_DL, K_READY, K_HELD, K_RL, K_BK =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local WID = ARGV[1]
local CHANNEL = ARGV[2]
local W_JSON = cjson.encode(WID)
-- Task seqs of step n are scored n * SPAN + seq in rq (a step's tasks are one score range).
local SPAN = 67108864

local function I(x)
  return string.format('%d', x)
end

local NOW
do
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local NOWS = I(NOW)

-- Events in the order they fired; public ones are published to other processes.
local ALL_EVENTS, PUBLIC_EVENTS = {}, {}
local function emit(json, public)
  ALL_EVENTS[#ALL_EVENTS + 1] = json
  if public then PUBLIC_EVENTS[#PUBLIC_EVENTS + 1] = json end
end

local function sget(n, attr)
  return redis.call('HGET', K_ST, n .. ':' .. attr)
end

local function sset(n, attr, value)
  redis.call('HSET', K_ST, n .. ':' .. attr, value)
end

local function parse_state(v)
  if not v then return nil end
  local s, fc, tok, own, run, fin, pos = string.match(v, '^(%d)|(%d+)|(%d+)|([^|]*)|(%d+)|(%d*)|()')
  return { status = tonumber(s), fc = tonumber(fc), token = tonumber(tok), owner = own, runAt = tonumber(run), fin = fin,
    tail = string.sub(v, pos) }
end

local function make_state(status, fc, token, owner, run_at, fin, tail)
  return status .. '|' .. I(fc) .. '|' .. I(token) .. '|' .. owner .. '|' .. I(run_at) .. '|' .. fin .. '|' .. tail
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

-- The message of a stored error JSON, or nil.
local function error_message(raw)
  if not raw or raw == '' then return nil end
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and type(decoded.message) == 'string' then return decoded.message end
  return nil
end

local function error_name(raw)
  if not raw or raw == '' then return nil end
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and type(decoded.name) == 'string' then return decoded.name end
  return nil
end

-- --- claimable work -------------------------------------------------------------------------
-- `ready` holds every step that has (or may have) claimable jobs, scored by the earliest time
-- one is claimable. The workflow's work version `wv` grows whenever work appears, so the
-- global hint index can tell a stale "nothing to do" from a fresh one.
local WORK_CHANGED = false
local WORK_EVENT_SENT = {}

local function mark_ready(n, at)
  redis.call('ZADD', K_READY, 'LT', I(at), n)
  WORK_CHANGED = true
end

-- Jobs of step n may be claimable now: a `work` event (once per step and script) and the index.
local function work(n)
  mark_ready(n, NOW)
  if WORK_EVENT_SENT[n] then return end
  WORK_EVENT_SENT[n] = true
  emit('{"type":"work","workflowId":' .. W_JSON .. ',"stepId":' .. cjson.encode(sget(n, 'id')) .. '}', false)
end

local function hook_claimable(n, slot)
  local s = parse_state(redis.call('HGET', K_JS, n .. ':' .. slot))
  return s == nil or (s.status == 4 and s.runAt <= NOW)
end

local function requeued_any(n)
  local base = tonumber(n) * SPAN
  return #redis.call('ZRANGEBYSCORE', K_RQ, I(base + 1), I(base + SPAN - 1), 'LIMIT', 0, 1) > 0
end

local function claimable_now(n)
  local f = redis.call('HMGET', K_ST, n .. ':status', n .. ':stage', n .. ':cur', n .. ':total', n .. ':hb', n .. ':ha')
  if f[1] ~= 'running' then return false end
  if f[2] == 'tasks' then
    if tonumber(f[3]) < tonumber(f[4]) then return true end
    return requeued_any(n)
  elseif f[2] == 'before' then
    return f[5] == '1' and hook_claimable(n, 'b')
  elseif f[2] == 'after' then
    return f[6] == '1' and hook_claimable(n, 'a')
  end
  return false
end

-- Earliest delayed job of step n (a scan of the delayed set, which holds only waiting retries).
local function delayed_min(n)
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
  local due = redis.call('ZRANGEBYSCORE', K_DL, '-inf', NOWS)
  for _, field in ipairs(due) do
    local n, slot = string.match(field, '^(%d+):(.+)$')
    if not is_hook(slot) then
      redis.call('ZADD', K_RQ, I(tonumber(n) * SPAN + tonumber(slot)), field)
    end
    redis.call('ZREM', K_DL, field)
  end
end
