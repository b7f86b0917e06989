-- retry.lua: runs a finished workflow again (docs/backends/step-machine.md, the retry
-- transition). The caller put the workflow back in the active index first (global/reopen.lua).
--
-- KEYS: the twelve workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] JSON array of step ids to run again from scratch (from)   ARGV[4] the only step id ('' = none)
-- ARGV[5] JSON array of the statuses a retry takes up again (src/backends/policy.ts)
-- Returns the common reply with tail { retries }, or { '!', refusal record JSON, finishedAt, keep }.

--- @include number
--- @include core
--- @include machine

if redis.call('EXISTS', K_WF) == 0 then
  return { '!', '{"code":"ERR_NOT_FOUND","operation":"retry","workflowId":' .. W_JSON .. '}', '', '' }
end
local from_ids, only_id = cjson.decode(ARGV[3]), ARGV[4]
local retryable = {}
for _, status in ipairs(cjson.decode(ARGV[5])) do retryable[status] = true end
local wf = redis.call('HMGET', K_WF, 'status', 'stepSeq', 'finishedAt', 'keep')
local function refuse(record)
  return { '!', record, wf[3] or '', wf[4] or '' }
end
local targeted = #from_ids > 0 or only_id ~= ''
if not retryable[wf[1]] then
  if wf[1] ~= 'succeeded' then
    return refuse('{"code":"ERR_NOT_RETRYABLE","reason":"unfinished","workflowId":' .. W_JSON .. ',"status":' .. cjson.encode(wf[1]) .. '}')
  end
  if not targeted then return refuse('{"code":"ERR_NOT_RETRYABLE","reason":"succeeded","workflowId":' .. W_JSON .. '}') end
end

-- A declared step by id (a step added with addAfter is not one).
local function declared(id)
  local n = redis.call('HGET', K_SX, id)
  if not n or (sget(n, 'anchor') or '') ~= '' then return nil end
  return n
end
local from = {}
for _, id in ipairs(from_ids) do
  local n = declared(id)
  if not n then return refuse(not_found(id)) end
  from[#from + 1] = n
end
local only
if only_id ~= '' then
  only = declared(only_id)
  if not only then return refuse(not_found(only_id)) end
  local f = sfetch(only, { 'status', 'name' })
  if not retryable[f[1]] then
    return refuse('{"code":"ERR_NOT_RETRYABLE","reason":"step-not-failed","workflowId":' .. W_JSON .. ',"step":' ..
      cjson.encode(f[2]) .. ',"stepId":' .. cjson.encode(only_id) .. ',"status":' .. cjson.encode(f[1]) .. '}')
  end
end

-- Steps reached from `seeds` through dependency edges (seeds included), and those reached from a parent.
local function dependents(seeds)
  local reached, has_parent, queue = {}, {}, {}
  for _, n in ipairs(seeds) do
    if not reached[n] then
      reached[n] = true
      queue[#queue + 1] = n
    end
  end
  while #queue > 0 do
    local n = table.remove(queue)
    for _, c in ipairs(split(sget(n, 'kids'))) do
      has_parent[c] = true
      if not reached[c] then
        reached[c] = true
        queue[#queue + 1] = c
      end
    end
  end
  return reached, has_parent
end

local steps = num(wf[2], 'stepSeq') or 0
local decl = {}
for i = 1, steps do
  local n = I(i)
  if (sget(n, 'anchor') or '') == '' then decl[#decl + 1] = n end
end
local seeds = {}
if only then
  seeds = { only }
else
  for _, n in ipairs(from) do seeds[#seeds + 1] = n end
  if not (#from > 0 and wf[1] == 'succeeded') then
    for _, n in ipairs(decl) do
      if sget(n, 'status') ~= 'succeeded' then seeds[#seeds + 1] = n end
    end
  end
end
local fresh = dependents(from)
local reached, has_parent = dependents(seeds)

local TERMINAL = { succeeded = true, failed = true, skipped = true, cancelled = true }
local BEFORE_AFTER_HOOK = { before = true, ['before-children'] = true, tasks = true, ['tasks-children'] = true }

-- The job fields of step n: its tasks and hooks.
local function job_fields(n)
  local total = snum(n, 'total') or 0
  local fields = { n .. ':b', n .. ':a' }
  for seq = 1, total do fields[#fields + 1] = n .. ':' .. I(seq) end
  return fields
end

-- Drops step n's entries from the claim indexes (requeued, delayed, held, range leases).
local function drop_claims(n)
  local base = tonumber(n) * SPAN
  redis.call('ZREMRANGEBYSCORE', K_RQ, I(base + 1), I(base + SPAN - 1))
  local prefix = n .. ':'
  for _, field in ipairs(redis.call('ZRANGE', K_DL, 0, -1)) do
    if string.sub(field, 1, #prefix) == prefix then redis.call('ZREM', K_DL, field) end
  end
  drop_step_jobs(n)
end

-- From scratch: waiting, every job fresh, its added steps too. Returns the steps it reopened.
-- The job states go, so the highest token they held becomes the step's token base (`tkb`,
-- lib/claim.lua): a node still running an old attempt is refused as stale.
local function reset_fresh(n)
  local opened = TERMINAL[sget(n, 'status')] and 1 or 0
  drop_claims(n)
  local fields = job_fields(n)
  local top = as_number(sget(n, 'tkb')) or 0
  for i = 1, #fields, 1000 do
    local part = { unpack(fields, i, math.min(i + 999, #fields)) }
    for _, v in ipairs(redis.call('HMGET', K_JS, unpack(part))) do
      local s = v and parse_state(v)
      if s and s.token > top then top = s.token end
    end
    redis.call('HDEL', K_JS, unpack(part))
    redis.call('HDEL', K_ER, unpack(part))
    redis.call('HDEL', K_HELD, unpack(part))
  end
  -- Tasks once leased in a range carry no token (their fence is "fresh and up to cur"): a node
  -- may still report one. They run again leased alone, with a token above `top`; the cursor
  -- stays, so no range hands them out again.
  local cur = as_number(sget(n, 'cur')) or 0
  local base = tonumber(n) * SPAN
  local ready = make_state(4, 0, top, '', 0, '', '')
  for first = 1, cur, 500 do
    local states, queue = {}, {}
    for seq = first, math.min(first + 499, cur) do
      local field = n .. ':' .. I(seq)
      states[#states + 1] = field
      states[#states + 1] = ready
      queue[#queue + 1] = I(base + seq)
      queue[#queue + 1] = field
    end
    redis.call('HSET', K_JS, unpack(states))
    redis.call('ZADD', K_RQ, unpack(queue))
  end
  sput(n, { 'status', 'waiting', 'stage', 'before', 'fstg', '', 'err', '', 'fseq', '', 'ferr', '', 'done', 0, 'failed', 0,
    'cur', I(cur), 'rlc', 0, 'run', '', 'sAt', '', 'fAt', '', 'tkb', top })
  for _, c in ipairs(split(sget(n, 'ch'))) do opened = opened + reset_fresh(c) end
  return opened
end

-- Takes step n up again at its failed stage (its current one, for a running step of a cancelled
-- workflow), as the retry transition and "Run control" of docs/backends/step-machine.md say.
-- Returns the steps it reopened (a running step never closed).
local function resume(n)
  local f = sfetch(n, { 'status', 'fstg', 'stage' })
  local stage = (f[2] and f[2] ~= '') and f[2] or f[3]
  drop_claims(n)
  for _, field in ipairs(job_fields(n)) do
    local s = job_state(field)
    local slot = string.sub(field, #n + 2)
    local again = s and (s.status == 1 or s.status == 3 or s.status == 4)
    if slot == 'a' and BEFORE_AFTER_HOOK[stage] and s then again = true end
    if again then
      redis.call('HSET', K_JS, field, make_state(4, 0, s.token, '', 0, '', ''))
      redis.call('HDEL', K_HELD, field)
      if not is_hook(slot) then redis.call('ZADD', K_RQ, I(tonumber(n) * SPAN + tonumber(slot)), field) end
    end
  end
  sput(n, { 'status', 'running', 'stage', stage, 'fstg', '', 'err', '', 'fseq', '', 'ferr', '', 'failed', 0, 'fAt', '' })
  local opened = f[1] == 'running' and 0 or 1
  for _, c in ipairs(split(sget(n, 'ch'))) do
    if sget(c, 'status') ~= 'succeeded' then opened = opened + reset_fresh(c) end
  end
  return opened
end

local opened, resumed = 0, {}
for _, n in ipairs(decl) do
  if reached[n] then
    local f = sfetch(n, { 'status', 'fstg' })
    -- A step cut short by a cancel goes on at its current stage, like a failed step at its failed one.
    local cut_short = wf[1] == 'cancelled' and f[1] == 'running'
    if not fresh[n] and not has_parent[n] and (cut_short or (retryable[f[1]] and f[2] and f[2] ~= '')) then
      opened = opened + resume(n)
      resumed[#resumed + 1] = n
    else
      opened = opened + reset_fresh(n)
    end
  end
end

redis.call('HSET', K_WF, 'status', 'running', 'error', '', 'finishedAt', '')
wincr('open', opened)
local retries = wincr('retries', 1) or 0
for i = 1, #KEYS do redis.call('PERSIST', KEYS[i]) end
TOUCHED = true
WF_RUNNING = true
for _, n in ipairs(resumed) do
  work(n)
  advance(n)
end
for _, n in ipairs(decl) do
  if reached[n] then evaluate(n) end
end
return reply({ retries })
