-- create.lua: stores a workflow with its steps and tasks and starts its root steps.
-- Idempotent on the workflow id: an existing workflow is left as it is.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id        ARGV[2] event channel
-- ARGV[3] name               ARGV[4] options JSON (StoredWorkflowOptions)
-- ARGV[5] createdAt (ms, Redis clock, from the global index call)
-- ARGV[6] watchNextTask 0|1  ARGV[7] keep ms after finishing ('' = forever)
-- ARGV[8] step count, then each step as described in lib/insert.lua; steps are numbered
--         1..count in this order, and parents/dependents refer to those numbers.
-- Returns the common reply (lib/machine.lua) with tail { created 0|1, createdAt }.

--- @include number
--- @include core
--- @include machine
--- @include insert

if redis.call('EXISTS', K_WF) == 1 then
  return { '', '', '', '', '', { 0, redis.call('HGET', K_WF, 'createdAt') } }
end

local count = tonumber(ARGV[8])
redis.call('HSET', K_WF, 'id', WID, 'name', ARGV[3], 'status', 'pending', 'options', ARGV[4], 'error', '',
  'createdAt', ARGV[5], 'startedAt', '', 'finishedAt', '', 'open', count, 'runSeq', 0, 'watch', ARGV[6],
  'keep', ARGV[7], 'stepSeq', count, 'declSeq', count, 'wv', 0)

local roots = {}
local pos = 9
for i = 1, count do
  local s
  s, pos = read_step(pos)
  local n = I(i)
  insert_step(n, s, { anchor = '', phase = '', aseq = '', parent = '', decl = i - 1 })
  if s.pars == '' then roots[#roots + 1] = n end
end

TOUCHED = true
for _, n in ipairs(roots) do start(n) end
return reply({ 1, ARGV[5] })
