-- workflow-queues.lua: records the queues a workflow's steps use, when some step uses one
-- other than 'default' (see lib/queue-hints.lua). Runs before the script that creates or adds
-- the steps, so the hint that follows it goes to the right sets. Only ever grows.
--
-- KEYS[1] wqueues  HASH workflow id -> comma-separated queues (names have no comma)
-- ARGV[1] workflow id   ARGV[2] comma-separated queues of the new steps
-- ARGV[3] '1' when the workflow exists already without an entry (its steps are on 'default')

local known = redis.call('HGET', KEYS[1], ARGV[1]) or (ARGV[3] == '1' and 'default' or '')
local seen, list = {}, {}
for queue in string.gmatch(known .. ',' .. ARGV[2], '[^,]+') do
  if not seen[queue] then
    seen[queue] = true
    list[#list + 1] = queue
  end
end
redis.call('HSET', KEYS[1], ARGV[1], table.concat(list, ','))
return #list
