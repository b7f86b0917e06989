-- finished.lua: a workflow finished: it leaves the active and runnable indexes and, when it
-- has a retention, enters the expiry index that sweep() reads (its keys carry the same TTL).
--
-- KEYS[1] active  KEYS[2] runnable  KEYS[3] hintv  KEYS[4] expiry  KEYS[5] wqueues
-- ARGV[1] workflow id   ARGV[2] expireAt (ms) or '' to keep it forever

--- @include queue-hints

redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
for _, key in ipairs(hint_keys(KEYS[2], KEYS[5], ARGV[1])) do redis.call('ZREM', key, ARGV[1]) end
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1]) end
return 1
