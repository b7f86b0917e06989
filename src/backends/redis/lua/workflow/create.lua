-- create.lua: stores a workflow with its steps and tasks and starts its root steps.
-- Idempotent on the workflow id: an existing workflow is left as it is.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id        ARGV[2] event channel
-- ARGV[3] name               ARGV[4] options JSON (StoredWorkflowOptions)
-- ARGV[5] createdAt (ms, Redis clock, from the global index call)
-- ARGV[6] watchNextTask 0|1  ARGV[7] keep ms after finishing ('' = forever)
-- ARGV[8] business key ('' = none)
-- ARGV[9] step count, then each step as described in lib/insert.lua; steps are numbered
--         1..count in this order, and parents/dependents refer to those numbers.
-- Returns the common reply (lib/machine.lua) with tail { created 0|1, createdAt }, and when
-- the workflow existed, tail { 0, createdAt, name, key } of the existing one.

--- @include number
--- @include core
--- @include machine
--- @include insert

if redis.call('EXISTS', K_WF) == 1 then
  local existing = redis.call('HMGET', K_WF, 'createdAt', 'name', 'key')
  return { '', '', '', '', '', { 0, existing[1] or '', existing[2] or '', existing[3] or '' } }
end

local count = tonumber(ARGV[9])
redis.call('HSET', K_WF, 'id', WID, 'name', ARGV[3], 'key', ARGV[8], 'status', 'pending', 'options', ARGV[4], 'error', '',
  'createdAt', ARGV[5], 'startedAt', '', 'finishedAt', '', 'open', count, 'runSeq', 0, 'watch', ARGV[6],
  'keep', ARGV[7], 'stepSeq', count, 'declSeq', count, 'wv', 0)

local roots = {}
local pos = 10
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
