-- machine.lua: the step machine of the Redis backend, run inside the calling script (so every
-- transition fires exactly once however many nodes race). Included after core.lua. The rules,
-- states and records are specified in docs/backends/step-machine.md; this file keeps none of
-- that prose.
--
-- Implementation notes: `advancing` holds the steps whose advance loop is on the stack (a
-- child finishing must not re-enter its anchor's loop); step attributes go through the per-call
-- cache of core.lua (sget/sput); failure and refusal records are JSON text without messages,
-- formatted by the backend when they leave it (src/backends/failures.ts).

-- State (TOUCHED, FINISHED, advancing) lives in core.lua and is reset per call.
local start, advance, finish, evaluate

-- Failure records. f: id, name, status, fstg, err of the failed step.
local FAILED_ATTRS = { 'id', 'name', 'status', 'fstg', 'err' }
local function failed_step(f, extra)
  local s = '{"code":"ERR_STEP_FAILED","step":' .. cjson.encode(f[2]) .. ',"stepId":' .. cjson.encode(f[1]) ..
    ',"status":' .. cjson.encode(f[3])
  if f[4] and f[4] ~= '' then s = s .. ',"stage":' .. cjson.encode(f[4]) end
  s = s .. (extra or '')
  if f[5] and f[5] ~= '' then s = s .. ',"cause":' .. f[5] end
  return s .. '}'
end

local function step_failure(n)
  return failed_step(sfetch(n, FAILED_ATTRS))
end

-- Child c (added with addAfter) failed: the record its anchor fails with.
local function child_failure(c, anchor)
  local a = sfetch(anchor, { 'id', 'name' })
  return failed_step(sfetch(c, FAILED_ATTRS), ',"anchorStep":' .. cjson.encode(a[2]) .. ',"anchorStepId":' .. cjson.encode(a[1]))
end

local function task_failure(n)
  local f = sfetch(n, { 'id', 'name', 'failed', 'total', 'fseq', 'ferr' })
  local first = f[5] and f[5] ~= ''
  local s = '{"code":"ERR_TASK_FAILED","step":' .. cjson.encode(f[2]) .. ',"stepId":' .. cjson.encode(f[1]) ..
    ',"status":"failed","stage":"tasks","task":' .. (first and f[5] or 'null') .. ',"failed":' .. I(snum(n, 'failed') or 0) ..
    ',"total":' .. I(snum(n, 'total') or 0)
  if first then s = s .. ',"cause":' .. f[6] end
  return s .. '}'
end

-- Refusal records.
local function not_found(step_id)
  return '{"code":"ERR_NOT_FOUND","workflowId":' .. W_JSON .. ',"stepId":' .. cjson.encode(step_id) .. '}'
end

local function step_closed(n, operation, phase)
  local f = sfetch(n, { 'id', 'name', 'status', 'stage' })
  local s = '{"code":"ERR_STEP_CLOSED","operation":"' .. operation .. '"'
  if phase then s = s .. ',"phase":' .. cjson.encode(phase) end
  return s .. ',"step":' .. cjson.encode(f[2]) .. ',"stepId":' .. cjson.encode(f[1]) .. ',"status":' .. cjson.encode(f[3]) ..
    ',"stage":' .. cjson.encode(f[4]) .. '}'
end

-- Why addTasks may not add to step n now (a refusal record), or nil when it may.
local function add_tasks_refusal(n)
  local f = sfetch(n, { 'status', 'stage' })
  if (f[1] == 'waiting' or f[1] == 'running') and (f[2] == 'before' or f[2] == 'before-children' or f[2] == 'tasks') then
    return nil
  end
  return step_closed(n, 'addTasks', nil)
end

-- Why addAfter from this phase of anchor n may not add steps now, or nil when it may.
local OPEN_STAGE_OF_PHASE = { before = 'before', task = 'tasks', after = 'after' }
local function add_after_refusal(n, phase)
  local f = sfetch(n, { 'status', 'stage' })
  if f[1] == 'running' and f[2] == OPEN_STAGE_OF_PHASE[phase] then return nil end
  return step_closed(n, 'addAfter', phase)
end

local function mark_workflow_running()
  if WF_RUNNING then return end
  WF_RUNNING = true
  local f = redis.call('HMGET', K_WF, 'status', 'startedAt')
  if f[1] == 'pending' then redis.call('HSET', K_WF, 'status', 'running') end
  if not f[2] or f[2] == '' then redis.call('HSET', K_WF, 'startedAt', NOWS) end
end

local function hook_state(n, slot)
  local s = job_state(n .. ':' .. slot)
  if s == nil then return 0, nil end
  return s.status, s.tail
end

-- Removes what is left of a finished step's jobs from the claim indexes. A step finishes with
-- every task terminal, or before its tasks started: none is requeued or delayed then, so
-- only its `ready` entry and its range leases ("<n>:1" .. "<n>:<rlc>") are left; except tasks
-- added with a delay (`dhi` set) by a step that failed before its tasks ran.
local function drop_step_jobs(n)
  redis.call('ZREM', K_READY, n)
  if sget(n, 'dhi') and has_delayed() then
    local prefix = n .. ':'
    for _, field in ipairs(redis.call('ZRANGE', K_DL, 0, -1)) do
      if string.sub(field, 1, #prefix) == prefix then redis.call('ZREM', K_DL, field) end
    end
    local base = tonumber(n) * SPAN
    redis.call('ZREMRANGEBYSCORE', K_RQ, I(base + 1), I(base + SPAN - 1))
  end
  local count = num(sget(n, 'rlc'), 'rlc', sget(n, 'id')) or 0 -- unusable: its leases expire with the workflow
  for first = 1, count, 1000 do
    local ids = {}
    for k = first, math.min(first + 999, count) do ids[#ids + 1] = n .. ':' .. k end
    redis.call('HDEL', K_RL, unpack(ids))
  end
end

-- Runs the children of one phase in order; reports whether they all succeeded yet.
local function run_children(n, phase)
  for _, c in ipairs(split(sget(n, 'ch'))) do
    if sget(c, 'phase') == phase then
      local status = sget(c, 'status')
      if status == 'waiting' then
        start(c)
        status = sget(c, 'status')
      end
      if status ~= 'succeeded' then
        if status == 'running' or status == 'waiting' then return 'wait' end
        return 'failed', child_failure(c, n)
      end
    end
  end
  return 'done'
end

local function skip_waiting_children(n)
  for _, c in ipairs(split(sget(n, 'ch'))) do
    if sget(c, 'status') == 'waiting' then finish(c, 'skipped', nil) end
  end
end

local ADVANCE_ATTRS = { 'status', 'stage', 'hb', 'ha', 'total', 'done', 'failed', 'fseq', 'ch', 'id', 'anchor', 'kids', 'rlc' }
local function advance_loop(n)
  while true do
    local r = sload(n, ADVANCE_ATTRS)
    if r.status ~= 'running' then return end
    local stage = r.stage
    local failing = r.fseq and r.fseq ~= ''
    if stage == 'before' then
      if r.hb == '1' then
        local status, err = hook_state(n, 'b')
        if status == 3 then return finish(n, 'failed', err) end
        if status ~= 2 then return end
      end
      sset(n, 'stage', 'before-children')
    elseif stage == 'before-children' then
      local state, err = run_children(n, 'before')
      if state == 'wait' then return end
      if state == 'failed' then return finish(n, 'failed', err) end
      sset(n, 'stage', 'tasks')
      mark_workflow_running()
      sset(n, 'run', I(wincr('runSeq', 1) or 0))
      local total, done, failed = snum(n, 'total'), snum(n, 'done'), snum(n, 'failed')
      if not (total and done and failed) then return end -- the step failed on it
      if total > done + failed then work(n) end
    elseif stage == 'tasks' then
      local total, done, failed = snum(n, 'total'), snum(n, 'done'), snum(n, 'failed')
      if not (total and done and failed) then return end
      if done + failed < total then return end
      sset(n, 'stage', 'tasks-children')
    elseif stage == 'tasks-children' then
      if not failing then
        local state, err = run_children(n, 'task')
        if state == 'wait' then return end
        if state == 'failed' then return finish(n, 'failed', err) end
      else
        skip_waiting_children(n)
      end
      sset(n, 'stage', 'after')
      if r.ha == '1' then work(n) end
    elseif stage == 'after' then
      if r.ha == '1' then
        local status, err = hook_state(n, 'a')
        if status == 3 then return finish(n, 'failed', err) end
        if status ~= 2 then return end
      end
      sset(n, 'stage', 'after-children')
    elseif stage == 'after-children' then
      if not failing then
        local state, err = run_children(n, 'after')
        if state == 'wait' then return end
        if state == 'failed' then return finish(n, 'failed', err) end
        return finish(n, 'succeeded', nil)
      end
      skip_waiting_children(n)
      return finish(n, 'failed', task_failure(n), 'tasks')
    else
      return
    end
  end
end

-- A step with a timer (tmr): its due time rat is fixed the first time its turn comes (its delay
-- counted from then). Until it is due the step stays waiting, in `ready` at that time, so the
-- workflow's hint wakes nodes then and check.lua starts it (start_due_timers).
local function timer_due(n)
  local tmr = sget(n, 'tmr')
  if not tmr or tmr == '' then return true end
  local at = as_number(sget(n, 'rat'))
  if at == nil then
    local delay, start_at = string.match(tmr, '^(%d*)|(%d*)$')
    at = as_number(start_at) or 0
    local d = as_number(delay)
    if d and d > 0 then at = math.max(at, NOW + d) end
    sset(n, 'rat', I(at))
  end
  if at <= NOW then return true end
  mark_ready(n, at)
  return false
end

-- Events (receive, docs/backends/step-machine.md): the layout of K_EV is in lib/core.lua.
local function events_arrived(wfor)
  local ok, names = pcall(cjson.decode, wfor)
  if not ok or type(names) ~= 'table' then return true end -- unusable: waits for nothing
  for _, name in ipairs(names) do
    if type(name) == 'string' and redis.call('HEXISTS', K_EV, 'n:' .. name) == 0 then return false end
  end
  return true
end

local function waits_for(n, name)
  local ok, names = pcall(cjson.decode, sget(n, 'wfor') or '')
  if not ok or type(names) ~= 'table' then return false end
  for _, x in ipairs(names) do
    if x == name then return true end
  end
  return false
end

-- Step n's dependencies are done but not all its events arrived: it is held back (once), and
-- its waitTimeout, if any, makes it ready (for check.lua to see) when it runs out.
local function hold_for_events(n)
  local since = sget(n, 'wsince')
  if since and since ~= '' then return end
  sset(n, 'wsince', NOWS)
  local wto = sget(n, 'wto')
  local ms = wto and wto ~= '' and as_number(wto)
  if ms then
    sset(n, 'wdue', I(NOW + ms))
    mark_ready(n, NOW + ms)
  end
  local held = redis.call('HGET', K_EV, 'held')
  redis.call('HSET', K_EV, 'held', (held and held ~= '') and (held .. ',' .. n) or n)
end

-- Drops the steps that left 'waiting' from the held list.
local function prune_held()
  local keep = {}
  for _, n in ipairs(split(redis.call('HGET', K_EV, 'held') or '')) do
    if sget(n, 'status') == 'waiting' then keep[#keep + 1] = n end
  end
  redis.call('HSET', K_EV, 'held', table.concat(keep, ','))
end

-- Starts a waiting step (once its timer, if any, is due) and runs its stages as far as they go
-- without a job; a step whose events have not all arrived is held back instead (receive starts it).
start = function(n)
  if sget(n, 'status') ~= 'waiting' then return end
  if not timer_due(n) then return end
  local wfor = sget(n, 'wfor')
  if wfor and wfor ~= '' and not events_arrived(wfor) then return hold_for_events(n) end
  mark_workflow_running()
  sput(n, { 'status', 'running', 'stage', 'before', 'sAt', NOWS })
  TOUCHED = true
  if sget(n, 'hb') == '1' then work(n) end
  advance(n)
end

-- Re-examines a running step after a job of it finished.
advance = function(n)
  if advancing[n] then return end
  advancing[n] = true
  advance_loop(n)
  advancing[n] = nil
end

-- failed_stage: where a failed step failed, when not the stage it is in (its tasks).
finish = function(n, status, err, failed_stage)
  local fstg = ''
  if status == 'failed' then fstg = failed_stage or sget(n, 'stage') end
  sput(n, { 'status', status, 'stage', 'done', 'fstg', fstg, 'err', err or '', 'fAt', NOWS })
  wincr('open', -1)
  drop_step_jobs(n)
  TOUCHED = true
  emit('{"type":"step","workflowId":' .. W_JSON .. ',"stepId":' .. cjson.encode(sget(n, 'id')) .. ',"status":"' .. status .. '"}',
    true)
  -- Steps added to a finished step can no longer run.
  skip_waiting_children(n)
  local anchor = sget(n, 'anchor')
  if anchor and anchor ~= '' then
    if advancing[anchor] then return end -- the anchor's loop is looking at us
    if sget(anchor, 'status') ~= 'running' then return end
    if status == 'succeeded' then
      advance(anchor)
    else
      finish(anchor, 'failed', child_failure(n, anchor))
    end
    return
  end
  for _, c in ipairs(split(sget(n, 'kids'))) do evaluate(c) end
end

-- A step whose stored number is unusable (record: its ERR_CORRUPT_RECORD, see num) fails, if
-- it has not finished; its workflow fails by the usual rules.
corrupt_step = function(n, record)
  local status = sget(n, 'status')
  if status ~= 'waiting' and status ~= 'running' then return end
  if status == 'waiting' then mark_workflow_running() end
  finish(n, 'failed', string.sub(record, 1, -2) .. ',"step":' .. cjson.encode(sget(n, 'name')) .. '}')
end

-- Starts or skips a waiting dependent once all its parents are terminal.
local EVALUATE_ATTRS = { 'status', 'pars', 'cond', 'hb', 'ha', 'stage', 'total', 'done', 'failed', 'fseq', 'ch', 'id', 'anchor',
  'kids', 'rlc', 'wfor' }
evaluate = function(c)
  if sload(c, EVALUATE_ATTRS).status ~= 'waiting' then return end
  local any_failed, all_ok = false, true
  for _, p in ipairs(split(sget(c, 'pars'))) do
    local status = sget(p, 'status')
    if status == 'waiting' or status == 'running' then return end
    if status == 'failed' then any_failed = true end
    if status ~= 'succeeded' then all_ok = false end
  end
  local cond = sget(c, 'cond')
  local runs
  if cond == 'always' then
    runs = true
  elseif cond == 'failure' then
    runs = any_failed
  else
    runs = all_ok
  end
  if runs then start(c) else finish(c, 'skipped', nil) end
end

-- receive: stores an event for a workflow that has not finished and starts the held-back
-- steps it completes the events of. False when the workflow is unknown or finished, or the id known.
local function receive(id, name, data)
  local status = redis.call('HGET', K_WF, 'status')
  if status ~= 'pending' and status ~= 'running' then return false end
  if redis.call('HSETNX', K_EV, 'i:' .. id, '1') == 0 then return false end
  local seq = I(redis.call('HINCRBY', K_EV, 'seq', 1))
  redis.call('HSET', K_EV, 'e:' .. seq, cjson.encode({ id = id, name = name, at = NOW }), 'd:' .. seq, data)
  redis.call('HSETNX', K_EV, 'n:' .. name, seq)
  emit('{"type":"event","workflowId":' .. W_JSON .. ',"eventId":' .. cjson.encode(id) .. ',"name":' .. cjson.encode(name) .. '}', true)
  local started = false
  for _, n in ipairs(split(redis.call('HGET', K_EV, 'held') or '')) do
    if sget(n, 'status') == 'waiting' and waits_for(n, name) then
      start(n)
      started = true
    end
  end
  if started then prune_held() end
  TOUCHED = true
  return true
end

-- Held-back steps whose waitTimeout ran out fail with an ERR_TIMEOUT record; returns how many.
local function expire_waits()
  local due = {}
  for _, n in ipairs(split(redis.call('HGET', K_EV, 'held') or '')) do
    local at = sget(n, 'status') == 'waiting' and as_number(sget(n, 'wdue') or '')
    if at and at <= NOW then due[#due + 1] = n end
  end
  for _, n in ipairs(due) do
    local wto = as_number(sget(n, 'wto') or '') or 0
    finish(n, 'failed', '{"code":"ERR_TIMEOUT","reason":"wait-for-events","step":' .. cjson.encode(sget(n, 'name')) .. ',"stepId":' ..
      cjson.encode(sget(n, 'id')) .. ',"waitFor":' .. sget(n, 'wfor') .. ',"waitTimeout":' .. I(wto) .. '}')
  end
  if #due > 0 then prune_held() end
  return #due
end

-- keep: the stored retention (ms, '' = forever; unusable: kept forever, and reported).
local function finish_workflow(status, err, keep)
  redis.call('HSET', K_WF, 'status', status, 'error', err, 'finishedAt', NOWS)
  local expire_at = ''
  local keep_ms = keep and keep ~= '' and num(keep, 'keep')
  if keep_ms then
    expire_at = I(NOW + keep_ms)
    for i = 1, #KEYS do redis.call('PEXPIREAT', KEYS[i], expire_at) end
  end
  emit('{"type":"workflow","workflowId":' .. W_JSON .. ',"status":"' .. status .. '"}', true)
  FINISHED = { status, expire_at }
end

-- Settles the workflow once no step is open, and sets the retention TTL (keep) on its keys.
-- wf: HMGET of open, status, stepSeq, keep (see reply).
local function settle_workflow(wf)
  if not TOUCHED then return end
  if wf[2] ~= 'pending' and wf[2] ~= 'running' and wf[2] ~= 'paused' then return end
  local open, steps = num(wf[1], 'open'), num(wf[3], 'stepSeq')
  -- The workflow's own counts are unusable: it could never settle by them, so it fails now.
  if open == nil or steps == nil then return finish_workflow('failed', CORRUPT[#CORRUPT], wf[4]) end
  if WF_CORRUPT then return finish_workflow('failed', WF_CORRUPT, wf[4]) end
  if open > 0 then return end
  local best, best_run = nil, nil
  for i = 1, steps do
    local n = I(i)
    local f = sfetch(n, { 'status', 'anchor', 'kids', 'run' })
    if f[1] == 'failed' and (not f[2] or f[2] == '') then
      local handled = false
      for _, c in ipairs(split(f[3])) do
        local cond = sget(c, 'cond')
        if cond == 'failure' or cond == 'always' then handled = true end
      end
      if not handled then
        local run = f[4] and f[4] ~= '' and num(f[4], 'run', sget(n, 'id')) or -1 -- '' before its tasks stage
        if best == nil or run < best_run then best, best_run = n, run end
      end
    end
  end
  if best then return finish_workflow('failed', step_failure(best), wf[4]) end
  finish_workflow('succeeded', '', wf[4])
end

-- What a node needs to run the steps that got claimable work in this call (so the caller's
-- engine can start them without asking again): { workflowName, createdAt, then per step
-- id name handler data options runIndex parentId }, or {} when there are none.
local RUNNABLE_ATTRS = { 'id', 'name', 'handler', 'data', 'options', 'run', 'parent', 'status' }
local function runnable_now(name, created_at)
  local out = {}
  for _, n in ipairs(WORK_STEPS) do
    if claimable_now(n) then
      local r = sload(n, RUNNABLE_ATTRS)
      for i = 1, 7 do out[#out + 1] = r[RUNNABLE_ATTRS[i]] or '' end
    end
  end
  if #out == 0 then return out end
  table.insert(out, 1, created_at)
  table.insert(out, 1, name)
  return out
end

-- Waiting steps whose timer came due (they are in `ready` at their due time) start now;
-- whether any did.
local function start_due_timers()
  local started = false
  for _, n in ipairs(redis.call('ZRANGEBYSCORE', K_READY, '-inf', NOWS)) do
    -- A step already held back by its events is due for its waitTimeout, not its timer:
    -- check.lua leaves it to expire-waits.lua.
    if sget(n, 'status') == 'waiting' and (sget(n, 'wsince') or '') == '' then
      redis.call('ZREM', K_READY, n)
      start(n)
      started = true
    end
  end
  return started
end

-- Every mutating script ends here: settles the workflow, bumps the work version when work
-- appeared, publishes the public events in one message and returns
--   { eventsJson, wv, earliestReady, finishedStatus, expireAt, tail, runnable, corrupt }  ('' when
-- absent; corrupt: the ERR_CORRUPT_RECORD records of stored numbers found unusable, see num).
local function reply(tail)
  local wf
  if TOUCHED or WORK_CHANGED then wf = redis.call('HMGET', K_WF, 'open', 'status', 'stepSeq', 'keep', 'name', 'createdAt') end
  settle_workflow(wf)
  local wv, earliest = '', ''
  local runnable = {}
  if WORK_CHANGED and FINISHED == nil then
    -- wv only has to grow: an unusable one is reported and starts again.
    local version = wincr('wv', 1)
    if not version then
      version = 1
      redis.call('HSET', K_WF, 'wv', version)
    end
    wv = I(version)
    local first = redis.call('ZRANGE', K_READY, 0, 0, 'WITHSCORES')
    if first[2] then earliest = first[2] end
    runnable = runnable_now(wf[5], wf[6])
  end
  if #PUBLIC_EVENTS > 0 then redis.call('PUBLISH', CHANNEL, '[' .. table.concat(PUBLIC_EVENTS, ',') .. ']') end
  local events = ''
  if #ALL_EVENTS > 0 then events = '[' .. table.concat(ALL_EVENTS, ',') .. ']' end
  local fin_status, fin_expire = '', ''
  if FINISHED then fin_status, fin_expire = FINISHED[1], FINISHED[2] end
  return { events, wv, earliest, fin_status, fin_expire, tail or {}, runnable, CORRUPT }
end
