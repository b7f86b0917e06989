-- receive.lua: an event for this workflow (step.emit, workflow.signal, DeFlow.emit): stored
-- once per id, and the steps it completes the events of start in the same call.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel   ARGV[3] event id   ARGV[4] name   ARGV[5] data JSON
-- Returns the common reply with tail { 1 delivered | 0 unknown, finished or a known id }.

--- @include number
--- @include core
--- @include machine

if receive(ARGV[3], ARGV[4], ARGV[5]) then return reply({ 1 }) end
return reply({ 0 })
