-- recover.lua: takes back the jobs that dead node registrations hold in this workflow.
-- Each one counts a failed attempt (error ERR_NODE_LOST) and is retried, or fails for good
-- when failedCount + 1 >= max(taskMaxFailCount, 2) (lib/apply.lua lose_attempt): a node's
-- death alone never fails a job that had no failed attempt before.
--
-- KEYS: the twelve workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] error JSON recorded on the lost attempts   ARGV[4] limit (jobs)
-- ARGV[5..] owner tags of dead registrations
-- Returns the common reply with tail { recovered, more (1 when the limit stopped it) }.

--- @include core
--- @include machine
--- @include apply

if redis.call('EXISTS', K_WF) == 0 then return reply({ 0, 0 }) end
local err, limit = ARGV[3], tonumber(ARGV[4])
local dead = {}
for i = 5, #ARGV do dead[ARGV[i]] = true end
local recovered, more = 0, 0

local held = redis.call('HGETALL', K_HELD)
for i = 1, #held, 2 do
  if dead[held[i + 1]] then
    if recovered >= limit then
      more = 1
      break
    end
    local field = held[i]
    redis.call('HDEL', K_HELD, field)
    local n, slot = string.match(field, '^(%d+):(.+)$')
    local s = parse_state(redis.call('HGET', K_JS, field))
    if s and s.status == 1 and s.owner == held[i + 1] and sget(n, 'status') == 'running' then
      lose_attempt(n, slot, field, s.fc, s.token, err)
      recovered = recovered + 1
    end
  end
end

local leases = redis.call('HGETALL', K_RL)
for i = 1, #leases, 2 do
  local n, lo, hi, own = string.match(leases[i + 1], '^(%d+)|(%d+)|(%d+)|(.*)$')
  if dead[own] then
    if recovered >= limit then
      more = 1
      break
    end
    redis.call('HDEL', K_RL, leases[i])
    if sget(n, 'status') == 'running' then
      for seq = tonumber(lo), tonumber(hi) do
        local field = n .. ':' .. I(seq)
        if redis.call('HEXISTS', K_JS, field) == 0 then
          lose_attempt(n, I(seq), field, 0, 0, err)
          recovered = recovered + 1
        end
      end
    end
  end
end
flush_tallies()
return reply({ recovered, more })
