-- insert.lua: writing new steps and tasks (create, addAfter, addTasks). Included after core.lua.
--
-- A step as the client sends it in ARGV, 14 values followed by its tasks:
--   id name handlerJson dataJson optionsJson maxAttempts retryDelayMs depsJson
--   hasBefore(0|1) hasAfter(0|1) parents("n,n" or '') cond(success|failure|always)
--   dependents("n,n" or '') taskCount, then taskCount task data JSON values.
-- Step attributes kept in `st` as "<n>:<attr>":
--   id name handler data options maxA delay deps anchor phase aseq parent decl run status stage
--   hb ha total done failed cur (last task seq leased in a range) cseq (children handed out)
--   ch (children "n,n" in call order) kids (dependents) pars (parents) cond fseq ferr (first
--   failed task and its error) err sAt fAt

local STEP_FIELDS = 14

local function read_step(pos)
  local s = {
    id = ARGV[pos], name = ARGV[pos + 1], handler = ARGV[pos + 2], data = ARGV[pos + 3], options = ARGV[pos + 4],
    maxA = ARGV[pos + 5], delay = ARGV[pos + 6], deps = ARGV[pos + 7], hb = ARGV[pos + 8], ha = ARGV[pos + 9],
    pars = ARGV[pos + 10], cond = ARGV[pos + 11], kids = ARGV[pos + 12], ntasks = tonumber(ARGV[pos + 13]),
    tasks_at = pos + STEP_FIELDS,
  }
  return s, pos + STEP_FIELDS + s.ntasks
end

-- Appends ARGV[first .. first + count - 1] as tasks of step n; returns the new total.
local function insert_tasks(n, first, count)
  if count == 0 then return tonumber(sget(n, 'total')) end
  local total = redis.call('HINCRBY', K_ST, n .. ':total', count)
  local seq = total - count
  local batch = {}
  for i = 0, count - 1 do
    seq = seq + 1
    batch[#batch + 1] = n .. ':' .. I(seq)
    batch[#batch + 1] = ARGV[first + i]
    if #batch >= 512 then
      redis.call('HSET', K_TD, unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then redis.call('HSET', K_TD, unpack(batch)) end
  return total
end

-- placement: { anchor = n or '', phase = 'task'|'before'|'after'|'', aseq = number or '', parent = id or '', decl = number }
local function insert_step(n, s, placement)
  redis.call('HSET', K_SX, s.id, n)
  redis.call('HSET', K_ST,
    n .. ':id', s.id, n .. ':name', s.name, n .. ':handler', s.handler, n .. ':data', s.data,
    n .. ':options', s.options, n .. ':maxA', s.maxA, n .. ':delay', s.delay, n .. ':deps', s.deps,
    n .. ':anchor', placement.anchor, n .. ':phase', placement.phase, n .. ':aseq', placement.aseq,
    n .. ':parent', placement.parent, n .. ':decl', placement.decl, n .. ':run', '',
    n .. ':status', 'waiting', n .. ':stage', 'before', n .. ':hb', s.hb, n .. ':ha', s.ha,
    n .. ':total', 0, n .. ':done', 0, n .. ':failed', 0, n .. ':cur', 0, n .. ':cseq', 0,
    n .. ':ch', '', n .. ':kids', s.kids, n .. ':pars', s.pars, n .. ':cond', s.cond,
    n .. ':fseq', '', n .. ':ferr', '', n .. ':err', '', n .. ':sAt', '', n .. ':fAt', '')
  insert_tasks(n, s.tasks_at, s.ntasks)
end
