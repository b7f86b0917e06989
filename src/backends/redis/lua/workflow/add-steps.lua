-- add-steps.lua: inserts steps right after a phase of an anchor step (step.addAfter), in
-- call order. Idempotent on step ids: a step id that exists is skipped.
--
-- KEYS: the twelve workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] anchor step id   ARGV[4] phase: task | before | after
-- ARGV[5] step count, then each step as described in lib/insert.lua (no parents/dependents).
-- Returns the common reply with tail { added }, or { '!', code, name, status, stage } when
-- the anchor is unknown (ERR_NOT_FOUND) or its phase is over (ERR_STEP_CLOSED).

--- @include core
--- @include machine
--- @include insert

local OPEN_STAGE = { before = 'before', task = 'tasks', after = 'after' }

local anchor = redis.call('HGET', K_SX, ARGV[3])
if not anchor then return { '!', 'ERR_NOT_FOUND' } end
local f = sfetch(anchor, { 'status', 'stage', 'name' })
if f[1] ~= 'running' or f[2] ~= OPEN_STAGE[ARGV[4]] then return { '!', 'ERR_STEP_CLOSED', f[3], f[1], f[2] } end

local added = 0
local pos = 6
for _ = 1, tonumber(ARGV[5]) do
  local s
  s, pos = read_step(pos)
  if redis.call('HEXISTS', K_SX, s.id) == 0 then
    local n = I(redis.call('HINCRBY', K_WF, 'stepSeq', 1))
    local decl = redis.call('HINCRBY', K_WF, 'declSeq', 1) - 1
    local aseq = sincr(anchor, 'cseq', 1)
    insert_step(n, s, { anchor = anchor, phase = ARGV[4], aseq = aseq, parent = ARGV[3], decl = decl })
    local ch = sget(anchor, 'ch')
    sset(anchor, 'ch', (ch and ch ~= '') and (ch .. ',' .. n) or n)
    redis.call('HINCRBY', K_WF, 'open', 1)
    added = added + 1
  end
end
TOUCHED = true
return reply({ added })
