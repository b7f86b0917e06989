-- claim.lua: leasing ready jobs of one step to a node. Included after core.lua.
--
-- Hook jobs (beforeAll, afterAll) and requeued tasks are leased alone: their state records
-- the owner and a fencing token bumped on every claim, and `held` indexes them by owner.
-- A step's `tkb` (token base) is the highest token handed out before a retry reset its jobs
-- (which deletes their states): tokens continue above it, so an attempt from before the reset
-- is stale. Fresh tasks are leased as one range per claim (`rl`), moving the step's cursor: one write
-- per batch instead of one per task. A claim whose node lease (validUntil, on Redis's clock)
-- has run out is refused: the node may have been declared dead, and a claim landing after
-- its recovery pass would never be recovered.
--
-- Returns { code, total, watch, lo, freshData[], again[], n } with code 'ok', 'lost' or 'rate'; fresh
-- tasks have seqs lo, lo + 1, ...; `again` is flat: slot, data, failedCount, token, lostCount per job.
-- A claim of a step with a keyed rate limit adds { 0, waitMs (-1: no bucket refused a task),
-- unknown limit name ('' when it is set) } (the 0 stands where claim.lua puts the common reply).

local CLAIM_ATTRS = { 'status', 'stage', 'total', 'cur', 'hb', 'ha', 'rlc', 'glim', 'klim', 'rlim', 'tkb', 'rkey', 'dhi' }

-- Most ready tasks of a limited step one claim looks at (more when it asks for more).
local LIMITED_SCAN = 2000
-- Candidates read per call while a limited claim scans fresh tasks.
local LIMITED_CHUNK = 200

-- Concurrency buckets are shared by every workflow, so their in-flight sets live under the
-- prefix's own tag, `<prefix>:{<prefix>}:kb:<bucket>`: the one place a workflow script touches
-- a key outside its workflow's tag (a key-limited claim needs every workflow's count; see
-- docs/backends/redis.md, Running on a cluster). A member is "<workflowId>\n<job field>\n<token>";
-- it counts while that job's state is still leased with that token, so outcomes, releases and
-- recoveries need not touch the set: a claim drops the members that no longer count.
local BUCKET_TTL_MS = 7 * 24 * 3600 * 1000

local function bucket_key(bucket)
  local prefix = string.sub(K_WF, 1, #K_WF - #WID - 6) -- K_WF is "<prefix>:{<workflowId>}:wf"
  return prefix .. ':{' .. prefix .. '}:kb:' .. bucket
end

local function bucket_count(key)
  local count = 0
  for _, member in ipairs(redis.call('SMEMBERS', key)) do
    local wid, field, token = string.match(member, '^(.*)\n([^\n]*)\n(%d+)$')
    local live = false
    if wid then
      local prefix = string.sub(K_WF, 1, #K_WF - #WID - 6)
      local s = parse_state(redis.call('HGET', prefix .. ':{' .. wid .. '}:js', field))
      live = s ~= nil and s.status == 1 and s.token == tonumber(token)
    end
    if live then count = count + 1 else redis.call('SREM', key, member) end
  end
  return count
end

-- A keyed rate limit (rateLimit: { name, key }) inside one claim, or nil when the limit is not
-- set. Each task's rate bucket ("<n>:<seq>:r" in td) logs its starts, on Redis's clock, in
-- `<prefix>:{<prefix>}:rk:<bucket>` (ZSET scored by start time, member "<at>|<count>|<job>"),
-- shared by every workflow like the concurrency buckets above (a key outside the workflow's tag);
-- a bucket holds at most max starts in any window of per ms, and expires when its window ends.
local function open_rate_buckets(name)
  local prefix = string.sub(K_WF, 1, #K_WF - #WID - 6)
  local global = prefix .. ':{' .. prefix .. '}:'
  local def = redis.call('HGET', global .. 'ratelimits', name)
  if not def then return nil end
  local max, per = string.match(def, '^(%d+)|(%d+)$')
  max, per = tonumber(max), tonumber(per)
  if max == nil or per == nil then return nil end -- not deflow's: as if unset
  local gate = { wait = -1 }
  local used, oldest, taken, last = {}, {}, {}, {}
  -- Can a task of this bucket start now? (none: not checked, the task fails when it runs)
  function gate.fits(bucket)
    if not bucket then return true, nil end
    local key = global .. 'rk:' .. bucket
    if used[key] == nil then
      local since = NOW - per
      local old = redis.call('ZRANGEBYSCORE', key, '-inf', since)
      if #old > 0 then redis.call('ZREM', key, unpack(old)) end
      local u, first = 0, nil
      for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. I(since), '+inf')) do
        local at, c = string.match(member, '^(%d+)|(%d+)|')
        if at then
          u = u + tonumber(c)
          first = first or tonumber(at)
        end
      end
      used[key], oldest[key] = u, first
    end
    if used[key] + (taken[key] or 0) < max then return true, key end
    local wait = math.max(0, math.min(oldest[key] or NOW, NOW) + per - NOW)
    if gate.wait < 0 or wait < gate.wait then gate.wait = wait end
    return false, nil
  end
  function gate.took(key, job)
    taken[key] = (taken[key] or 0) + 1
    last[key] = job
  end
  -- Logs the claim's starts, one member per bucket (unique: it names the last job leased in it).
  function gate.log()
    for key, c in pairs(taken) do
      redis.call('ZADD', key, NOW, I(NOW) .. '|' .. I(c) .. '|' .. last[key])
      redis.call('PEXPIREAT', key, NOW + per)
    end
  end
  return gate
end

-- The claim rule of a limited step (docs/backends/step-machine.md): its tasks are leased alone,
-- ready-again ones first then fresh ones, each in seq order, skipping a task whose bucket holds
-- klim leased tasks (or, with a keyed rate limit `rgate`, whose rate bucket has no room), until
-- the step holds glim. `cur` marks the prefix of tasks no longer fresh (each has a state), so a
-- claim never rescans them.
local function claim_limited(n, owner, limit, total, cur, glim, klim, base_token, again, rgate)
  local room = limit
  local pre = n .. ':'
  if glim then
    local inflight = 0
    local held = redis.call('HKEYS', K_HELD)
    for _, field in ipairs(held) do
      if string.sub(field, 1, #pre) == pre then
        local slot = string.sub(field, #pre + 1)
        if slot ~= 'b' and slot ~= 'a' then inflight = inflight + 1 end
      end
    end
    room = math.min(room, glim - inflight)
  end
  if room <= 0 then return end
  local counts = {}
  local touched = {}
  -- bucket, rbucket: the task's bucket and rate bucket when the caller read them already
  -- (false: it has none; nil: read here).
  local function fits(seq, bucket, rbucket)
    local key = nil
    if klim then
      if bucket == nil then bucket = redis.call('HGET', K_TD, pre .. seq .. ':k') end
      if bucket then
        key = bucket_key(bucket)
        if counts[key] == nil then counts[key] = bucket_count(key) end
        if counts[key] >= klim then return false end
      end
    end
    if not rgate then return true, key end
    if rbucket == nil then rbucket = redis.call('HGET', K_TD, pre .. seq .. ':r') end
    local ok, rkey = rgate.fits(rbucket)
    return ok, key, rkey
  end
  -- Leases are written at the end, a chunk of fields per call (states, held, data): a claim
  -- of a limited step leases its tasks alone, and one call per field each was most of its cost.
  local states, helds, datas = {}, {}, {}
  local function lease(field, s, key, rkey)
    local fc, token, tail, lc = 0, base_token + 1, '', 0
    if s then fc, token, tail, lc = s.fc, math.max(s.token, base_token) + 1, s.tail, s.lc end
    states[#states + 1] = field
    states[#states + 1] = make_state(1, fc, token, owner, 0, '', tail, lc)
    helds[#helds + 1] = field
    helds[#helds + 1] = owner
    datas[#datas + 1] = field
    if key then
      redis.call('SADD', key, WID .. '\n' .. field .. '\n' .. I(token))
      if not touched[key] then
        touched[key] = true
        touched[#touched + 1] = key
      end
      counts[key] = counts[key] + 1
    end
    if rkey then rgate.took(rkey, WID .. '\n' .. field .. '\n' .. I(token)) end
    again[#again + 1] = string.sub(field, #pre + 1)
    again[#again + 1] = false -- its data, read with the others below
    again[#again + 1] = fc
    again[#again + 1] = token
    again[#again + 1] = lc
    room = room - 1
  end
  local base = tonumber(n) * SPAN
  local rows = redis.call('ZRANGEBYSCORE', K_RQ, I(base + 1), I(base + SPAN - 1), 'LIMIT', 0, math.max(LIMITED_SCAN, limit))
  for _, field in ipairs(rows) do
    if room == 0 then break end
    local s = job_state(field)
    if s and s.status == 4 then
      local ok, key, rkey = fits(string.sub(field, #pre + 1))
      if ok then
        redis.call('ZREM', K_RQ, field)
        lease(field, s, key, rkey)
      end
    else
      redis.call('ZREM', K_RQ, field) -- not ready any more: nothing to claim
    end
  end
  local prefix_done = true
  local seq = cur
  local last = math.min(total, cur + math.max(LIMITED_SCAN, limit))
  -- Candidates are read in chunks (their states, buckets and rate buckets), not with a call
  -- each: a claim of a key-limited step passes over many tasks whose bucket is full.
  local first = cur + 1
  while first <= last and room > 0 do
    local upto = math.min(last, first + LIMITED_CHUNK - 1)
    local fields, tdfields = {}, {}
    for candidate = first, upto do
      local field = pre .. I(candidate)
      fields[#fields + 1] = field
      if klim then tdfields[#tdfields + 1] = field .. ':k' end
      if rgate then tdfields[#tdfields + 1] = field .. ':r' end
    end
    local got = redis.call('HMGET', K_JS, unpack(fields))
    local tds = #tdfields > 0 and redis.call('HMGET', K_TD, unpack(tdfields)) or {}
    local per = #tdfields / #fields
    for i = 1, #fields do
      if room == 0 then break end
      local candidate = first + i - 1
      if not got[i] then
        local at = per * (i - 1)
        local bucket = klim and tds[at + 1] or false
        local rbucket = false
        if rgate then rbucket = tds[at + per] end
        local ok, key, rkey = fits(I(candidate), bucket, rbucket)
        if ok then
          lease(fields[i], nil, key, rkey)
        else
          prefix_done = false
        end
      end
      if prefix_done then seq = candidate end
    end
    first = upto + 1
  end
  for _, key in ipairs(touched) do redis.call('PEXPIRE', key, BUCKET_TTL_MS) end
  if seq ~= cur then sset(n, 'cur', I(seq)) end
  local base_at = #again - 5 * #datas -- `again` may hold jobs of an earlier part of the claim
  for from = 1, #datas, LIMITED_CHUNK do
    local upto = math.min(#datas, from + LIMITED_CHUNK - 1)
    redis.call('HSET', K_JS, unpack(states, 2 * from - 1, 2 * upto))
    redis.call('HSET', K_HELD, unpack(helds, 2 * from - 1, 2 * upto))
    local part = redis.call('HMGET', K_TD, unpack(datas, from, upto))
    for i = 1, #part do again[base_at + 5 * (from + i - 2) + 2] = part[i] end
  end
end
-- Tasks added with a delay (add-tasks.lua) have a state beyond the cursor, up to seq `dhi`: a
-- range must not cover one. Moves the cursor over those right after it, then ends the range
-- (at most `room` tasks) before the next one. Returns the new cursor and the range's last seq
-- (equal to the cursor: nothing fresh to lease now).
local function fresh_span(n, cur, room, total, dhi)
  local prefix = n .. ':'
  local function states(from, to)
    local fields = {}
    for seq = from, to do fields[#fields + 1] = prefix .. seq end
    return redis.call('HMGET', K_JS, unpack(fields))
  end
  while cur < math.min(total, dhi) do
    local got = states(cur + 1, math.min(total, dhi, cur + 1000))
    local skipped = 0
    while skipped < #got and got[skipped + 1] do skipped = skipped + 1 end
    cur = cur + skipped
    if skipped < #got then break end
  end
  local hi = math.min(cur + room, total)
  if cur < dhi and cur < hi then
    local got = states(cur + 1, math.min(hi, dhi))
    for i = 1, #got do
      if got[i] then
        hi = cur + i - 1
        break
      end
    end
  end
  return cur, hi
end

-- n: the step's number when the caller knows it (else it is looked up by id).
-- grant: for a step with a rate limit (attribute rlim), the starts lua/global/rate-take.lua
-- granted this claim; without it such a step's tasks are not claimed and the reply is
-- { 'rate', total, 0, <limit name>, {}, {}, n }: the client takes starts, then claims again.
local function claim(step_id, owner, valid_until, limit, n, grant)
  if tonumber(valid_until) < NOW then return { 'lost', 0, 0, 0, {}, {} } end
  -- Paused or finished (cancelled): nothing is claimed (docs/backends/step-machine.md#run-control).
  -- One read of the workflow hash, for its watch flag too.
  local wf = redis.call('HMGET', K_WF, 'status', 'watch')
  if wf[1] ~= 'running' and wf[1] ~= 'pending' then return { 'ok', 0, 0, 0, {}, {} } end
  n = n or redis.call('HGET', K_SX, step_id)
  if not n then return { 'ok', 0, 0, 0, {}, {} } end
  local f = sfetch(n, CLAIM_ATTRS)
  if f[1] ~= 'running' then return { 'ok', num(f[3], 'total', step_id) or 0, 0, 0, {}, {} } end
  local total = snum(n, 'total')
  if total == nil then return { 'ok', 0, 0, 0, {}, {} } end -- unusable: the step failed on it
  promote_due()
  local again, fresh, lo = {}, {}, 0
  local keyed -- { waitMs, unknown limit name } of a keyed rate limit's claim
  local stage = f[2]
  local base_token = as_number(f[11]) or 0 -- none (or unusable): tokens count from the job's own
  if (stage == 'before' and f[5] == '1') or (stage == 'after' and f[6] == '1') then
    local slot = stage == 'before' and 'b' or 'a'
    local field = n .. ':' .. slot
    local s = job_state(field)
    -- (a state deflow did not write fails the step: nothing to claim then)
    if (s == nil or (s.status == 4 and s.runAt <= NOW)) and sget(n, 'status') == 'running' then
      local fc, token, tail, lc = 0, base_token + 1, '', 0
      if s then fc, token, tail, lc = s.fc, math.max(s.token, base_token) + 1, s.tail, s.lc end
      redis.call('HSET', K_JS, field, make_state(1, fc, token, owner, 0, '', tail, lc))
      redis.call('HSET', K_HELD, field, owner)
      again = { slot, 'null', fc, token, lc }
    end
  elseif stage == 'tasks' and f[10] and f[10] ~= '' and f[12] == '1' then
    -- A keyed rate limit: each task's bucket has its own room, checked here task by task.
    local gate = open_rate_buckets(f[10])
    claim_limited(n, owner, limit, total, snum(n, 'cur') or 0, tonumber(f[8] or ''), tonumber(f[9] or ''), base_token, again, gate)
    if gate then gate.log() end
    keyed = { gate and gate.wait or -1, gate and '' or f[10] }
  elseif stage == 'tasks' and f[10] and f[10] ~= '' and grant == nil then
    -- A rate-limited step (either path below) claims only the starts its limit granted.
    return { 'rate', total, 0, f[10], {}, {}, n }
  elseif stage == 'tasks' and (tonumber(f[8] or '') or tonumber(f[9] or '')) then
    if f[10] and f[10] ~= '' then limit = math.min(limit, grant) end
    claim_limited(n, owner, limit, total, snum(n, 'cur') or 0, tonumber(f[8] or ''), tonumber(f[9] or ''), base_token, again)
  elseif stage == 'tasks' then
    if f[10] and f[10] ~= '' then limit = math.min(limit, grant) end
    local base = tonumber(n) * SPAN
    local rows = redis.call('ZRANGEBYSCORE', K_RQ, I(base + 1), I(base + SPAN - 1), 'LIMIT', 0, limit)
    for _, field in ipairs(rows) do
      redis.call('ZREM', K_RQ, field)
      local s = job_state(field)
      if s and s.status == 4 then
        local token = math.max(s.token, base_token) + 1
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
    local hi = cur and math.min(cur + room, total)
    local dhi = as_number(f[13])
    if cur and dhi and room > 0 and cur < total and cur < dhi then
      local moved
      moved, hi = fresh_span(n, cur, room, total, dhi)
      if moved ~= cur then sset(n, 'cur', I(moved)) end
      cur = moved
    end
    if cur and room > 0 and cur < hi then
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
  local watch = as_number(wf[2]) or 0 -- unusable: not watched
  if keyed then return { 'ok', total, watch, lo, fresh, again, n, 0, keyed[1], keyed[2] } end
  return { 'ok', total, watch, lo, fresh, again, n }
end
