-- claim.lua: leasing ready jobs of one step to a node. Included after core.lua.
--
-- Hook jobs (beforeAll, afterAll) and requeued tasks are leased alone: their state records
-- the owner and a fencing token bumped on every claim, and `held` indexes them by owner.
-- Fresh tasks are leased as one range per claim (`rl`), moving the step's cursor: one write
-- per batch instead of one per task. A claim whose node lease (validUntil, on Redis's clock)
-- has run out is refused: the node may have been declared dead, and a claim landing after
-- its recovery pass would never be recovered.
--
-- Returns { code, total, watch, lo, freshData[], again[], n } with code 'ok', 'lost' or 'rate'; fresh
-- tasks have seqs lo, lo + 1, ...; `again` is flat: slot, data, failedCount, token, lostCount per job.

local CLAIM_ATTRS = { 'status', 'stage', 'total', 'cur', 'hb', 'ha', 'rlc', 'rlim' }
-- n: the step's number when the caller knows it (else it is looked up by id).
-- grant: for a step with a rate limit (attribute rlim), the starts lua/global/rate-take.lua
-- granted this claim; without it such a step's tasks are not claimed and the reply is
-- { 'rate', total, 0, <limit name>, {}, {}, n }: the client takes starts, then claims again.
local function claim(step_id, owner, valid_until, limit, n, grant)
  if tonumber(valid_until) < NOW then return { 'lost', 0, 0, 0, {}, {} } end
  n = n or redis.call('HGET', K_SX, step_id)
  if not n then return { 'ok', 0, 0, 0, {}, {} } end
  local f = sfetch(n, CLAIM_ATTRS)
  if f[1] ~= 'running' then return { 'ok', num(f[3], 'total', step_id) or 0, 0, 0, {}, {} } end
  local total = snum(n, 'total')
  if total == nil then return { 'ok', 0, 0, 0, {}, {} } end -- unusable: the step failed on it
  promote_due()
  local again, fresh, lo = {}, {}, 0
  local stage = f[2]
  if (stage == 'before' and f[5] == '1') or (stage == 'after' and f[6] == '1') then
    local slot = stage == 'before' and 'b' or 'a'
    local field = n .. ':' .. slot
    local s = job_state(field)
    -- (a state deflow did not write fails the step: nothing to claim then)
    if (s == nil or (s.status == 4 and s.runAt <= NOW)) and sget(n, 'status') == 'running' then
      local fc, token, tail, lc = 0, 1, '', 0
      if s then fc, token, tail, lc = s.fc, s.token + 1, s.tail, s.lc end
      redis.call('HSET', K_JS, field, make_state(1, fc, token, owner, 0, '', tail, lc))
      redis.call('HSET', K_HELD, field, owner)
      again = { slot, 'null', fc, token, lc }
    end
  elseif stage == 'tasks' then
    if f[8] and f[8] ~= '' then
      if grant == nil then return { 'rate', total, 0, f[8], {}, {}, n } end
      limit = math.min(limit, grant)
    end
    local base = tonumber(n) * SPAN
    local rows = redis.call('ZRANGEBYSCORE', K_RQ, I(base + 1), I(base + SPAN - 1), 'LIMIT', 0, limit)
    for _, field in ipairs(rows) do
      redis.call('ZREM', K_RQ, field)
      local s = job_state(field)
      if s and s.status == 4 then
        local token = s.token + 1
        redis.call('HSET', K_JS, field, make_state(1, s.fc, token, owner, 0, '', s.tail, s.lc))
        redis.call('HSET', K_HELD, field, owner)
        local seq = string.sub(field, #n + 2)
        again[#again + 1] = seq
        again[#again + 1] = redis.call('HGET', K_TD, field)
        again[#again + 1] = s.fc
        again[#again + 1] = token
        again[#again + 1] = s.lc
      end
    end
    local room = limit - #rows
    local cur = snum(n, 'cur')
    if cur and room > 0 and cur < total then
      local hi = math.min(cur + room, total)
      lo = cur + 1
      local prefix = n .. ':'
      for first = lo, hi, 1000 do
        local fields = {}
        for seq = first, math.min(first + 999, hi) do
          fields[#fields + 1] = prefix .. seq -- seqs stay far below 1e14: plain concatenation is exact
        end
        local part = redis.call('HMGET', K_TD, unpack(fields))
        if first == lo and #part == hi - lo + 1 then
          fresh = part
        else
          for i = 1, #part do fresh[#fresh + 1] = part[i] end
        end
      end
      -- Range lease ids are "<n>:<k>", k counting the step's leases (rlc), so a finishing step
      -- can delete its leases without looking for them.
      local k = sincr(n, 'rlc', 1)
      if k then
        redis.call('HSET', K_RL, n .. ':' .. k, n .. '|' .. I(lo) .. '|' .. I(hi) .. '|' .. owner)
        sset(n, 'cur', I(hi))
      else
        fresh, lo = {}, 0 -- unusable lease count: the step failed on it, nothing is leased
      end
    end
  end
  settle_ready(n)
  local watch = as_number(redis.call('HGET', K_WF, 'watch')) or 0 -- unusable: not watched
  return { 'ok', total, watch, lo, fresh, again, n }
end
