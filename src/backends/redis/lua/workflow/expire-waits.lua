-- expire-waits.lua: held-back steps whose waitTimeout ran out fail (ERR_TIMEOUT); run when
-- check.lua reports one due.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- Returns the common reply with tail { expired }.

--- @include number
--- @include core
--- @include machine

if redis.call('EXISTS', K_WF) == 0 then return reply({ 0 }) end
return reply({ expire_waits() })
