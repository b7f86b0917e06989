-- claim.lua: leases up to `limit` ready jobs of one step to a node.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] step id       ARGV[4] owner tag (the node's registration)
-- ARGV[5] validUntil: the node's lease expiry as it last learned it (ms, Redis clock)
-- ARGV[6] limit
-- ARGV[7] starts granted by the step's rate limit (rate-take.lua), absent for a step without one
-- Returns the claim reply of lib/claim.lua, with the common reply as its last element when the
-- claim changed the workflow (a step failed on an unusable stored number, see lib/core.lua num).

--- @include number
--- @include core
--- @include machine
--- @include claim

if redis.call('EXISTS', K_WF) == 0 then return { 'ok', 0, 0, 0, {}, {} } end
local claimed = claim(ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), nil, tonumber(ARGV[7]))
if TOUCHED or #CORRUPT > 0 then claimed[8] = reply() end
return claimed
