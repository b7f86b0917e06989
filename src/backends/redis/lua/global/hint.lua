-- hint.lua: records that workflows have claimable work (now or at a later time) and then
-- publishes the `work` events, so a node woken by the event finds the hint.
-- Runs after the workflow script that created the work (a separate call: other slot).
--
-- KEYS[1] runnable  ZSET workflow id -> earliest time it may have claimable jobs (the default
--                   queue's; other queues have their own sets, see lib/queue-hints.lua)
-- KEYS[2] hintv     HASH workflow id -> highest work version hinted (see drop-hint.lua)
-- KEYS[3] wqueues   HASH workflow id -> its queues (see workflow-queues.lua)
-- ARGV[1] event channel   ARGV[2] events JSON array to publish ('' = none)
-- ARGV[3] a second message to publish ('' = none): events the posting process already
--         handed to its engine, as {"origin":…,"events":[…]} so that process skips them
-- ARGV[4..] triples: workflow id, time (ms), work version

--- @include number
--- @include queue-hints

for i = 4, #ARGV, 3 do
  local id, at, wv = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  for _, key in ipairs(hint_keys(KEYS[1], KEYS[3], id)) do redis.call('ZADD', key, 'LT', at, id) end
  local known = as_number(redis.call('HGET', KEYS[2], id)) or 0 -- unusable: as if unknown
  if wv > known then redis.call('HSET', KEYS[2], id, ARGV[i + 2]) end
end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[3]) end
return 1
