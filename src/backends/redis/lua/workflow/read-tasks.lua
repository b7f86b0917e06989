-- read-tasks.lua: one page of a step's tasks in seq order (read only).
--
-- KEYS: the thirteen workflow keys (see lib/core.lua); only sx, st, td, js and er are read.
-- ARGV[1] step id   ARGV[2] return tasks with seq > this   ARGV[3] limit
-- Returns { total, rows[] } (total -1 for an unknown step); rows is flat:
--   seq dataJson state ('' = fresh) sideError ('' = none) per task.

--- @include number

local K_SX, K_ST, K_TD, K_JS, K_ER = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local n = redis.call('HGET', K_SX, ARGV[1])
if not n then return { -1, {} } end
-- A read for display: an unusable stored total shows no tasks (the step machine fails the step on it).
local total = as_number(redis.call('HGET', K_ST, n .. ':total')) or 0
local first = tonumber(ARGV[2]) + 1
local last = math.min(total, tonumber(ARGV[2]) + tonumber(ARGV[3]))
local rows = {}
if last < first then return { total, rows } end
local fields = {}
for seq = first, last do fields[#fields + 1] = n .. ':' .. string.format('%d', seq) end
for i = 1, #fields, 1000 do
  local part = { unpack(fields, i, math.min(i + 999, #fields)) }
  local data = redis.call('HMGET', K_TD, unpack(part))
  local states = redis.call('HMGET', K_JS, unpack(part))
  local errors = redis.call('HMGET', K_ER, unpack(part))
  for j = 1, #part do
    rows[#rows + 1] = first + i + j - 2
    rows[#rows + 1] = data[j] or 'null'
    rows[#rows + 1] = states[j] or ''
    rows[#rows + 1] = errors[j] or ''
  end
end
return { total, rows }
