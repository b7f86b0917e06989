-- hints.lua: workflows that may have claimable work now, oldest hint first (read only).
--
-- KEYS[1] runnable (see hint.lua)
-- ARGV[1] limit   ARGV[2..] the queues the reading node serves (none: 'default'), whose hint
--         sets it reads (lib/queue-hints.lua), each up to the limit
-- Returns { now, ids[], nextRunAt or '' } (nextRunAt: earliest hint in the future).

--- @include queue-hints

local t = redis.call('TIME')
local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local limit = tonumber(ARGV[1])
local keys = {}
for i = 2, #ARGV do keys[#keys + 1] = queue_hint_key(KEYS[1], ARGV[i]) end
if #keys == 0 then keys[1] = KEYS[1] end
local due, seen, next_at = {}, {}, nil
for _, key in ipairs(keys) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, limit)) do
    if not seen[id] then
      seen[id] = true
      due[#due + 1] = id
    end
  end
  local later = redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if later[2] and (next_at == nil or tonumber(later[2]) < tonumber(next_at)) then next_at = later[2] end
end
return { now, due, next_at or '' }
