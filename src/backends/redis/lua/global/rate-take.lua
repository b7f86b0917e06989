-- rate-take.lua: takes up to `want` starts from a rate limit, on Redis's clock (the claim rule
-- of docs/backends/step-machine.md): at most `max` task starts in any window of `per` ms.
-- Runs before the claim of a rate-limited step (a separate call: the limit lives in the
-- prefix's slot, the step in its workflow's); the claim then leases at most what was granted,
-- and rate-refund.lua gives back what it did not use.
--
-- KEYS[1] ratelimits HASH name -> "<max>|<per ms>"
-- KEYS[2] rate:<name> LIST the limit's starts, oldest first: "<at ms>|<n>"
-- KEYS[3] rateused   HASH name -> starts in the list (its sum of n)
-- ARGV[1] name   ARGV[2] want
-- Returns { known 0|1, granted, waitMs (-1: not cut short), entry ('' when none granted) };
-- waitMs is how long until the next start is allowed when it granted less than asked.

local def = redis.call('HGET', KEYS[1], ARGV[1])
if not def then return { 0, 0, -1, '' } end
local max, per = string.match(def, '^(%d+)|(%d+)$')
max, per = tonumber(max), tonumber(per)
if max == nil or per == nil then return { 0, 0, -1, '' } end -- not deflow's: as if unset
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local used = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0') or 0
-- Starts that left the window count no more (an entry deflow did not write is dropped).
while true do
  local head = redis.call('LINDEX', KEYS[2], 0)
  if not head then break end
  local at, n = string.match(head, '^(%d+)|(%d+)$')
  at, n = tonumber(at), tonumber(n)
  if at ~= nil and at > now - per then break end
  redis.call('LPOP', KEYS[2])
  used = used - (n or 0)
end
if redis.call('LLEN', KEYS[2]) == 0 or used < 0 then used = 0 end
local want = tonumber(ARGV[2])
local granted = math.max(0, math.min(want, max - used))
local entry = ''
if granted > 0 then
  -- Never before the newest entry: the list stays in time order if the clock steps back.
  local at = now
  local last = redis.call('LINDEX', KEYS[2], -1)
  local last_at = last and tonumber(string.match(last, '^(%d+)|'))
  if last_at and last_at > at then at = last_at end
  entry = string.format('%d|%d', at, granted)
  redis.call('RPUSH', KEYS[2], entry)
  used = used + granted
end
redis.call('HSET', KEYS[3], ARGV[1], used)
local wait = -1
if granted < want then
  local head = redis.call('LINDEX', KEYS[2], 0)
  local oldest = head and tonumber(string.match(head, '^(%d+)|')) or now
  wait = math.max(0, oldest + per - now)
end
return { 1, granted, wait, entry }
