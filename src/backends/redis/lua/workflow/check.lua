-- check.lua: which steps of this workflow have claimable jobs now (for runnableSteps and
-- the hint reconciliation). Moves due delayed jobs to the ready queue and re-scores steps
-- found empty, so it writes; the only work it creates is that of steps whose timer came due,
-- which it starts (the step machine's start).
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel   ARGV[3] most steps to return
-- Returns { 'missing' }, { 'done', status, finishedAt, keep } for a finished workflow, or (no
--   steps when paused)
--   { 'ok', createdAt, name, wv, nextRunAt or '', steps[], now, expire } where steps is flat:
--   id name handlerJson dataJson optionsJson runIndex parentId per step, and expire is '1' when
--   a step held back by its events is ready only because its waitTimeout ran out (the caller
--   runs expire-waits.lua), else ''; then, when a timer started a step, the common reply
--   (lib/machine.lua) of those transitions.

--- @include number
--- @include core
--- @include machine

-- Only to start timers: a step whose stored counts are unusable is listed as claimable, and
-- the claim (which fails such steps) reports it, as before the machine was included here.
FAILS_STEPS = false

if redis.call('EXISTS', K_WF) == 0 then return { 'missing' } end
local wf = redis.call('HMGET', K_WF, 'status', 'createdAt', 'name', 'wv', 'finishedAt', 'keep')
-- Paused: nothing claimable until resume (which announces its work again).
if wf[1] == 'paused' then return { 'ok', wf[2], wf[3], wf[4], '', {}, NOWS } end
if wf[1] ~= 'pending' and wf[1] ~= 'running' then return { 'done', wf[1], wf[5] or '', wf[6] or '' } end
promote_due()
local timers = start_due_timers()
local limit = tonumber(ARGV[3])
local steps, found, expire = {}, 0, ''
for _, n in ipairs(redis.call('ZRANGEBYSCORE', K_READY, '-inf', NOWS)) do
  if claimable_now(n) then
    if found < limit then
      local f = sfetch(n, { 'id', 'name', 'handler', 'data', 'options', 'run', 'parent' })
      for i = 1, 7 do steps[#steps + 1] = f[i] or '' end
      found = found + 1
    end
  elseif sget(n, 'status') == 'waiting' then
    expire = '1' -- only a held-back step's waitTimeout makes a waiting step ready
  else
    settle_ready(n)
  end
end
local later = redis.call('ZRANGEBYSCORE', K_READY, '(' .. NOWS, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if timers then
  local common = reply({})
  wf = redis.call('HMGET', K_WF, 'status', 'createdAt', 'name', 'wv')
  return { 'ok', wf[2], wf[3], wf[4], later[2] or '', steps, NOWS, expire, common }
end
return { 'ok', wf[2], wf[3], wf[4], later[2] or '', steps, NOWS, expire }
