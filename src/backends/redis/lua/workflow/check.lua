-- check.lua: which steps of this workflow have claimable jobs now (for runnableSteps and
-- the hint reconciliation). Moves due delayed jobs to the ready queue and re-scores steps
-- found empty, so it writes, but it never creates work.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel   ARGV[3] most steps to return
-- Returns { 'missing' }, { 'done', status, finishedAt, keep } for a finished workflow, or
--   { 'ok', createdAt, name, wv, nextRunAt or '', steps[], now, expire } where steps is flat:
--   id name handlerJson dataJson optionsJson runIndex parentId per step, and expire is '1' when
--   a step held back by its events is ready only because its waitTimeout ran out (the caller
--   runs expire-waits.lua), else ''.

--- @include number
--- @include core

if redis.call('EXISTS', K_WF) == 0 then return { 'missing' } end
local wf = redis.call('HMGET', K_WF, 'status', 'createdAt', 'name', 'wv', 'finishedAt', 'keep')
if wf[1] ~= 'pending' and wf[1] ~= 'running' then return { 'done', wf[1], wf[5] or '', wf[6] or '' } end
promote_due()
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
return { 'ok', wf[2], wf[3], wf[4], later[2] or '', steps, NOWS, expire }
