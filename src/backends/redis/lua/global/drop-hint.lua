-- drop-hint.lua: a reader found no claimable work in a hinted workflow: re-score its hint to
-- its next delayed job, or drop it. Only when no newer work was hinted since the reader
-- looked (the work version it saw is still the highest hinted); otherwise the hint stays.
--
-- KEYS[1] runnable   KEYS[2] hintv   KEYS[3] wqueues   (see hint.lua)
-- ARGV triples: workflow id, work version seen, next time (ms) or '' for none

--- @include number
--- @include queue-hints

local dropped = 0
for i = 1, #ARGV, 3 do
  local id, seen, at = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local known = as_number(redis.call('HGET', KEYS[2], id)) or 0 -- unusable: as if unknown
  if known <= seen then
    for _, key in ipairs(hint_keys(KEYS[1], KEYS[3], id)) do
      if at == '' then redis.call('ZREM', key, id) else redis.call('ZADD', key, 'XX', at, id) end
    end
    if at == '' then dropped = dropped + 1 end
  end
end
return dropped
