-- reconcile.lua: hands back every job a node holds in this workflow except those it says
-- it still holds (after an ambiguous round trip), or all of them (the node unregisters).
-- No attempt is counted.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel   ARGV[3] owner tag
-- ARGV[4..] job fields "<n>:<slot>" the node still holds
-- Returns the common reply with tail { released }.

--- @include number
--- @include core
--- @include machine
--- @include release

if redis.call('EXISTS', K_WF) == 0 then return reply({ 0 }) end
local keep = {}
for i = 4, #ARGV do keep[ARGV[i]] = true end
return reply({ release_owner(ARGV[3], keep) })
