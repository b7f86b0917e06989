-- unregister-node.lua: a node leaves. The caller then hands back the jobs of its tag.
--
-- KEYS[1] nodes   KEYS[2] nodeinfo   (see register-node.lua)
-- ARGV[1] node id
-- Returns the node's owner tag, or '' when it was not registered.

local info = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if not info then return '' end
return string.match(info, '^(%d+)|')
