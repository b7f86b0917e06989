-- read-step.lua: one step's attributes and its anchor's id (read only).
--
-- KEYS: the thirteen workflow keys (see lib/core.lua); only sx and st are read.
-- ARGV[1] step id   ARGV[2..] attribute names (see lib/insert.lua)
-- Returns {} for an unknown step, else { values in ARGV order..., anchorStepId or '' }.

local K_SX, K_ST = KEYS[2], KEYS[3]
local n = redis.call('HGET', K_SX, ARGV[1])
if not n then return {} end
local out = {}
local anchor = ''
for i = 2, #ARGV do
  local v = redis.call('HGET', K_ST, n .. ':' .. ARGV[i])
  out[#out + 1] = v or ''
  if ARGV[i] == 'anchor' and v and v ~= '' then anchor = redis.call('HGET', K_ST, v .. ':id') or '' end
end
out[#out + 1] = anchor
return out
