-- add-tasks.lua: appends tasks to a step that has not finished its tasks stage.
-- Idempotent per batch key: a batch whose key was applied is ignored.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] step id       ARGV[4] batch key ('' = none)
-- ARGV[5] bucket count (0, or the task count with concurrencyKey)
-- ARGV[6] rate bucket count (0, or the task count with a keyed rate limit)
-- ARGV[7] delay ms (0: the tasks are fresh, claimable at once)
-- ARGV[8..] task data JSON values, then the tasks' concurrency buckets, then their rate buckets ('' = none)
-- Delayed tasks are stored as jobs ready again at NOW + delay (state 4 in `js`, in `dl`), as a
-- task waiting for its retry delay: promote_due moves them to `rq` when due. They are not fresh,
-- so the cursor moves over them when no fresh task is before them, and `dhi` (the highest seq
-- ever added with a delay) tells a range claim to skip them (lib/claim.lua fresh_span).
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
local delay = tonumber(ARGV[7])
local count = #ARGV - 7 - nbuckets - nrate
local total = insert_tasks(n, 8, count)
if nbuckets > 0 then insert_buckets(n, 8 + count, nbuckets, total, ':k') end
if nrate > 0 then insert_buckets(n, 8 + count + nbuckets, nrate, total, ':r') end
if delay > 0 and count > 0 and total >= count then
  local run_at = NOW + delay
  local state = make_state(4, 0, 0, '', run_at, '', '')
  local states, queue = {}, {}
  for seq = total - count + 1, total do
    local field = n .. ':' .. I(seq)
    states[#states + 1] = field
    states[#states + 1] = state
    queue[#queue + 1] = I(run_at)
    queue[#queue + 1] = field
    if #states >= 1000 then
      redis.call('HSET', K_JS, unpack(states))
      redis.call('ZADD', K_DL, unpack(queue))
      states, queue = {}, {}
    end
  end
  if #states > 0 then
    redis.call('HSET', K_JS, unpack(states))
    redis.call('ZADD', K_DL, unpack(queue))
  end
  HAS_DELAYED = true
  sset(n, 'dhi', I(total))
  if snum(n, 'cur') == total - count then sset(n, 'cur', I(total)) end
  if f[1] == 'running' and f[2] == 'tasks' then mark_ready(n, run_at) end
elseif f[1] == 'running' and f[2] == 'tasks' and count > 0 then
  work(n)
end
return reply({ count, total })
