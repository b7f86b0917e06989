-- rate-refund.lua: gives back starts rate-take.lua granted that the claim did not use (the
-- step had fewer ready tasks). Finds the entry from the newest end (entries with the same
-- text are interchangeable); one that left the window already is left alone.
--
-- KEYS[1] rate:<name> LIST (see rate-take.lua)   KEYS[2] rateused HASH
-- ARGV[1] name   ARGV[2] the entry rate-take answered   ARGV[3] starts to give back

local pos = redis.call('LPOS', KEYS[1], ARGV[2], 'RANK', -1)
if not pos then return 0 end
local at, n = string.match(ARGV[2], '^(%d+)|(%d+)$')
local back = math.min(tonumber(ARGV[3]), tonumber(n))
redis.call('LSET', KEYS[1], pos, string.format('%s|%d', at, tonumber(n) - back))
local used = (tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') or 0) - back
redis.call('HSET', KEYS[2], ARGV[1], math.max(0, used))
return back
