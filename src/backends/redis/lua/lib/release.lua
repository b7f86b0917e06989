-- release.lua: handing a job back to the queue without counting an attempt. Included
-- after core.lua.

-- Releases one job if the caller's lease on it is current; returns whether it did.
local function release_job(n, slot, token)
  local field = n .. ':' .. slot
  if token == 0 then
    if is_hook(slot) then return false end
    local cur = snum(n, 'cur')
    if cur == nil or tonumber(slot) > cur then return false end
    if redis.call('HSETNX', K_JS, field, make_state(4, 0, 0, '', 0, '', '')) == 0 then return false end
  else
    local s = job_state(field)
    if s == nil or s.status ~= 1 or s.token ~= token then return false end
    redis.call('HSET', K_JS, field, make_state(4, s.fc, s.token, '', 0, '', s.tail, s.lc))
    redis.call('HDEL', K_HELD, field)
  end
  if sget(n, 'status') ~= 'running' then return true end
  if not is_hook(slot) then redis.call('ZADD', K_RQ, I(tonumber(n) * SPAN + tonumber(slot)), field) end
  work(n)
  return true
end

-- Releases every job `owner` holds in this workflow except the fields in `keep` (a set).
local function release_owner(owner, keep)
  local released = 0
  local held = redis.call('HGETALL', K_HELD)
  for i = 1, #held, 2 do
    local field = held[i]
    if held[i + 1] == owner and not keep[field] then
      local s = job_state(field)
      local n, slot = string.match(field, '^(%d+):(.+)$')
      if s and s.status == 1 and release_job(n, slot, s.token) then
        released = released + 1
      else
        redis.call('HDEL', K_HELD, field)
      end
    end
  end
  local leases = redis.call('HGETALL', K_RL)
  for i = 1, #leases, 2 do
    local n, lo, hi, own = string.match(leases[i + 1], '^(%d+)|(%d+)|(%d+)|(.*)$')
    if own == owner then
      local kept = 0
      for seq = tonumber(lo), tonumber(hi) do
        local field = n .. ':' .. I(seq)
        if keep[field] then
          kept = kept + 1
        elseif redis.call('HEXISTS', K_JS, field) == 0 and release_job(n, I(seq), 0) then
          released = released + 1
        end
      end
      if kept == 0 then redis.call('HDEL', K_RL, leases[i]) end
    end
  end
  return released
end
