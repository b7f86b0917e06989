-- complete.lua: records a batch of job outcomes of one workflow (fenced), fires the
-- transitions they cause, and optionally claims the next batch of a step, all at once.
--
-- KEYS: the twelve workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] claim next: 0|1   ARGV[4] step id   ARGV[5] owner tag   ARGV[6] validUntil   ARGV[7] limit
-- ARGV[8] group count, then per step: n, block count, then blocks of outcomes (see
--         apply_group in lib/apply.lua)
-- Returns the common reply with tail { staleFields[], claimReply or {} }, { '!', 'LEASE' }
-- when the next claim's node lease ran out (nothing applied), or { '!', 'GONE' } when the
-- workflow no longer exists.

--- @include core
--- @include machine
--- @include apply
--- @include claim

if redis.call('EXISTS', K_WF) == 0 then return { '!', 'GONE' } end
local claim_next = ARGV[3] == '1'
if claim_next and tonumber(ARGV[6]) < NOW then return { '!', 'LEASE' } end

local stale = {}
local pos = 9
for _ = 1, tonumber(ARGV[8]) do
  pos = apply_group(ARGV[pos], pos + 2, tonumber(ARGV[pos + 1]), stale)
end
flush_tallies()

local claimed = {}
if claim_next then claimed = claim(ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])) end
return reply({ stale, claimed })
