-- reopen.lua: a finished workflow is about to be retried: it re-enters the active index (so
-- recovery and reconciliation see it again) and leaves the expiry index (so sweep() does not
-- remove it). Runs before retry.lua (other slot); if the retry is refused, the caller puts it
-- back (finished.lua), and reconciliation would find it finished anyway.
--
-- KEYS[1] active  KEYS[2] expiry
-- ARGV[1] workflow id   ARGV[2] createdAt (ms)

redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
