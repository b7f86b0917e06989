-- recover.lua: takes back the jobs that dead node registrations hold in this workflow. Each
-- one is lost once, and is ready again or fails for good by the node-loss rule
-- (docs/backends/step-machine.md#the-node-loss-rule, lib/apply.lua lose_attempt).
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] record stored on the lost attempts (ERR_NODE_LOST, completed per job)   ARGV[4] limit (jobs)
-- ARGV[5] maxNodeLosses of steps stored without it   ARGV[6..] owner tags of dead registrations
-- Returns the common reply with tail { recovered, more (1 when the limit stopped it) }.

--- @include number
--- @include core
--- @include machine
--- @include apply

if redis.call('EXISTS', K_WF) == 0 then return reply({ 0, 0 }) end
local err, limit, default_max = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local dead = {}
for i = 6, #ARGV do dead[ARGV[i]] = true end
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
    local s = job_state(field)
    if s and s.status == 1 and s.owner == held[i + 1] and sget(n, 'status') == 'running' then
      lose_attempt(n, slot, field, s.fc, s.lc, s.token, err, default_max)
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
          lose_attempt(n, I(seq), field, 0, 0, 0, err, default_max)
          recovered = recovered + 1
        end
      end
    end
  end
end
flush_tallies()
return reply({ recovered, more })
