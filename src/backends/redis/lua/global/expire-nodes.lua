-- expire-nodes.lua: declares dead the nodes whose lease ran out, and lists the owner tags
-- whose jobs still wait to be recovered. A node is only declared dead once the caller has
-- itself been connected for at least that node's lease: after a Redis outage every lease
-- looks expired, and live nodes get one lease to heartbeat again first.
--
-- KEYS[1] nodes   KEYS[2] nodeinfo   (see register-node.lua)
-- KEYS[3] dead    SET owner tags of dead registrations not yet fully recovered
-- ARGV[1] the caller's connectedAt (ms, Redis clock)
-- Returns { now, nodesRemoved, deadTags[] }.

--- @include number

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local connected = tonumber(ARGV[1])
local removed = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', now))) do
  local info = redis.call('HGET', KEYS[2], id)
  local tag, lease = nil, nil
  if info then tag, lease = string.match(info, '^(%d+)|(%d+)|') end
  -- A record without a usable lease length (missing, or not written by deflow) expires now.
  if now - connected >= (as_number(lease) or 0) then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    if tag then redis.call('SADD', KEYS[3], tag) end
    removed = removed + 1
  end
end
return { string.format('%d', now), removed, redis.call('SMEMBERS', KEYS[3]) }
