-- add-tasks.lua: appends tasks to a step that has not finished its tasks stage.
-- Idempotent per batch key: a batch whose key was applied is ignored.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] step id       ARGV[4] batch key ('' = none)
-- ARGV[5] bucket count (0, or the task count with concurrencyKey)
-- ARGV[6] rate bucket count (0, or the task count with a keyed rate limit)
-- ARGV[7..] task data JSON values, then the tasks' concurrency buckets, then their rate buckets ('' = none)
-- Returns the common reply with tail { added, total }, or { '!', refusal record JSON } for an
-- unknown step (ERR_NOT_FOUND) or a step whose tasks already ran (ERR_STEP_CLOSED).

--- @include number
--- @include core
--- @include machine
--- @include insert

local n = redis.call('HGET', K_SX, ARGV[3])
if not n then return { '!', not_found(ARGV[3]) } end
local refused = add_tasks_refusal(n)
if refused then return { '!', refused } end
local f = sfetch(n, { 'status', 'stage', 'total' })
if ARGV[4] ~= '' and redis.call('SADD', K_BK, n .. ':' .. ARGV[4]) == 0 then
  return reply({ 0, snum(n, 'total') or 0 })
end
local nbuckets = tonumber(ARGV[5])
local nrate = tonumber(ARGV[6])
local count = #ARGV - 6 - nbuckets - nrate
local total = insert_tasks(n, 7, count)
if nbuckets > 0 then insert_buckets(n, 7 + count, nbuckets, total, ':k') end
if nrate > 0 then insert_buckets(n, 7 + count + nbuckets, nrate, total, ':r') end
if f[1] == 'running' and f[2] == 'tasks' and count > 0 then work(n) end
return reply({ count, total })
