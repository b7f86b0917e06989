-- number.lua: the check every number read back from the store goes through (included first;
-- global scripts include it alone). Whoever can write the store can put anything in a field
-- deflow keeps a number in, and tonumber's nil (or an inf) in a comparison or a sum would fail
-- the script, again on every call. Returns the number, or nil: the caller decides what
-- becomes of the record that held it (workflow scripts: core.lua num).
local function as_number(v)
  local x = tonumber(v)
  if x and x == x and x > -math.huge and x < math.huge then return x end
  return nil
end
