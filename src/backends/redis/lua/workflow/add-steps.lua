-- add-steps.lua: inserts steps right after a phase of an anchor step (step.addAfter), in
-- call order. Idempotent on step ids: a step id that exists is skipped.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] anchor step id   ARGV[4] phase: task | before | after
-- ARGV[5] step count, then each step as described in lib/insert.lua (no parents/dependents).
-- Returns the common reply with tail { added }, or { '!', refusal record JSON } when the anchor
-- is unknown (ERR_NOT_FOUND) or its phase is over (ERR_STEP_CLOSED).

--- @include number
--- @include core
--- @include machine
--- @include insert

local anchor = redis.call('HGET', K_SX, ARGV[3])
if not anchor then return { '!', not_found(ARGV[3]) } end
local refused = add_after_refusal(anchor, ARGV[4])
if refused then return { '!', refused } end

local added = 0
local pos = 6
for _ = 1, tonumber(ARGV[5]) do
  local s
  s, pos = read_step(pos)
  if redis.call('HEXISTS', K_SX, s.id) == 0 then
    local seq, decl, aseq = wincr('stepSeq', 1), wincr('declSeq', 1), sincr(anchor, 'cseq', 1)
    if not (seq and decl and aseq) then break end -- an unusable stored count: the workflow or anchor fails
    local n = I(seq)
    decl = decl - 1
    insert_step(n, s, { anchor = anchor, phase = ARGV[4], aseq = aseq, parent = ARGV[3], decl = decl })
    local ch = sget(anchor, 'ch')
    sset(anchor, 'ch', (ch and ch ~= '') and (ch .. ',' .. n) or n)
    wincr('open', 1)
    added = added + 1
  end
end
TOUCHED = true
return reply({ added })
