-- control.lua: cancels, pauses or resumes the workflow (docs/backends/step-machine.md#run-control).
-- Claims refuse a workflow that is not pending or running (lib/claim.lua); here only the status
-- moves, and a cancel hands every job leased to a node back to the queue, so whatever those
-- nodes still report is stale (a range job gets a state, a job leased alone loses its lease).
--
-- KEYS: the twelve workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel   ARGV[3] cancel|pause|resume
-- ARGV[4] cancel: the workflow's error record (JSON), stored as given
-- Returns { 'missing' }, or the common reply with tail { changed 0|1, status }.

--- @include number
--- @include core
--- @include machine

if redis.call('EXISTS', K_WF) == 0 then return { 'missing' } end
local status = redis.call('HGET', K_WF, 'status')
local action = ARGV[3]
local changed = 0

-- Every step of the workflow, by number (1 .. stepSeq); an unusable count: none.
local function each_step(fn)
  local steps = as_number(redis.call('HGET', K_WF, 'stepSeq')) or 0
  for i = 1, steps do fn(I(i)) end
end

local function drop_leases()
  local held = redis.call('HGETALL', K_HELD)
  for i = 1, #held, 2 do
    local field = held[i]
    local s = job_state(field)
    if s and s.status == 1 then
      redis.call('HSET', K_JS, field, make_state(4, s.fc, s.token, '', 0, '', s.tail, s.lc))
      local n, slot = string.match(field, '^(%d+):(.+)$')
      if n and not is_hook(slot) then redis.call('ZADD', K_RQ, I(tonumber(n) * SPAN + tonumber(slot)), field) end
    end
  end
  redis.call('DEL', K_HELD)
  local leases = redis.call('HVALS', K_RL)
  for _, lease in ipairs(leases) do
    local n, lo, hi = string.match(lease, '^(%d+)|(%d+)|(%d+)|')
    if n then
      for seq = tonumber(lo), tonumber(hi) do
        local field = n .. ':' .. I(seq)
        if redis.call('HSETNX', K_JS, field, make_state(4, 0, 0, '', 0, '', '')) == 1 then
          redis.call('ZADD', K_RQ, I(tonumber(n) * SPAN + seq), field)
        end
      end
    end
  end
  redis.call('DEL', K_RL)
end

-- A cancel drops the timers of its waiting steps (no node wakes for them); a retry fixes them
-- again at each step's turn.
local function drop_timers()
  each_step(function(n)
    local f = sfetch(n, { 'status', 'rat' })
    if f[1] == 'waiting' and f[2] and f[2] ~= '' then
      sset(n, 'rat', '')
      redis.call('ZREM', K_READY, n)
    end
  end)
end

if action == 'cancel' then
  if status == 'pending' or status == 'running' or status == 'paused' then
    drop_leases()
    drop_timers()
    finish_workflow('cancelled', ARGV[4], redis.call('HGET', K_WF, 'keep'))
    status, changed = 'cancelled', 1
  end
elseif action == 'pause' then
  if status == 'pending' or status == 'running' then
    redis.call('HSET', K_WF, 'status', 'paused')
    status, changed = 'paused', 1
  end
elseif action == 'resume' then
  if status == 'paused' then
    redis.call('HSET', K_WF, 'status', 'running')
    status, changed = 'running', 1
    -- Idle nodes look again; a delayed retry that fell due meanwhile is claimable now.
    each_step(function(n)
      if sget(n, 'status') == 'running' then work(n) end
    end)
    -- Timers that fell due while paused start now; the workflow's hint is set again for those
    -- still ahead (check.lua skipped the paused workflow).
    start_due_timers()
    WORK_CHANGED = true
  end
end
return reply({ changed, status })
