-- release.lua: hands claimed, never-started jobs back; no attempt is counted.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3..] pairs: job field "<n>:<slot>", token (0 = leased in a range)
-- Returns the common reply with tail { released }.

--- @include number
--- @include core
--- @include machine
--- @include release

if redis.call('EXISTS', K_WF) == 0 then return reply({ 0 }) end
local released = 0
for i = 3, #ARGV, 2 do
  local n, slot = string.match(ARGV[i], '^(%d+):(.+)$')
  if n and release_job(n, slot, tonumber(ARGV[i + 1])) then released = released + 1 end
end
return reply({ released })
