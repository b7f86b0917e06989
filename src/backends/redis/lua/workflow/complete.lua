-- complete.lua: records a batch of job outcomes of one workflow (fenced), fires the
-- transitions they cause, optionally claims the next batch of a step, and optionally adopts
-- the steps those transitions made runnable (claims their first jobs), all at once.
--
-- KEYS: the thirteen workflow keys (see lib/core.lua).
-- ARGV[1] workflow id   ARGV[2] event channel
-- ARGV[3] claim next: 0|1   ARGV[4] step id   ARGV[5] owner tag   ARGV[6] validUntil   ARGV[7] limit
-- ARGV[8] adopt: 0|1   ARGV[9] owner tag   ARGV[10] validUntil   ARGV[11] limit per step
-- ARGV[12] h = number of handler keys the node has loaded, ARGV[13 .. 12 + h] those keys
-- ARGV[13 + h] the queues the node serves, comma-separated (queue names have no comma)
-- ARGV[14 + h] group count, then per step: n, block count, then blocks of outcomes (see
--         apply_group in lib/apply.lua)
-- Returns the common reply with tail { staleFields[], claimReply or {}, adopted }, where
-- adopted is {} or { workflowName, { id name handler data options runIndex parentId
-- claimReply } ... }; { '!', 'LEASE' } when the next claim's node lease ran out (nothing
-- applied), or { '!', 'GONE' } when the workflow no longer exists.

--- @include number
--- @include core
--- @include machine
--- @include apply
--- @include claim

if redis.call('EXISTS', K_WF) == 0 then return { '!', 'GONE' } end
local claim_next = ARGV[3] == '1'
if claim_next and tonumber(ARGV[6]) < NOW then return { '!', 'LEASE' } end

local handlers = tonumber(ARGV[12])
local stale = {}
local pos = 15 + handlers
for _ = 1, tonumber(ARGV[14 + handlers]) do
  pos = apply_group(ARGV[pos], pos + 2, tonumber(ARGV[pos + 1]), stale)
end
flush_tallies()

local claimed = {}
if claim_next then claimed = claim(ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])) end

-- Adoption: the steps these transitions made claimable, whose handler the node has loaded
-- and whose queue it serves (an absent queue is 'default'), get their first jobs claimed now (at most the step's taskConcurrency), saving the node a
-- discovery and a claim round trip per step-to-step hop.
local adopted = {}
if ARGV[8] == '1' and handlers > 0 and tonumber(ARGV[10]) >= NOW then
  local loaded = {}
  for i = 13, 12 + handlers do loaded[ARGV[i]] = true end
  local served = {}
  for queue in string.gmatch(ARGV[13 + handlers], '[^,]+') do served[queue] = true end
  for _, n in ipairs(WORK_STEPS) do
    local r = sload(n, RUNNABLE_ATTRS)
    if r.status == 'running' and not (claim_next and r.id == ARGV[4]) then
      local ok, handler = pcall(cjson.decode, r.handler)
      if ok and type(handler) == 'table' and loaded[handler.key] then
        -- Stored JSON others may have written: a corrupt one must not fail the whole script (the
        -- node marks the step corrupt when it reads the reply, and fails its jobs).
        local decoded, options = pcall(cjson.decode, r.options)
        if not decoded or type(options) ~= 'table' then options = {} end
        local queue = type(options.queue) == 'string' and options.queue ~= '' and options.queue or 'default'
        local limit = math.min(tonumber(ARGV[11]), tonumber(options.taskConcurrency) or 1)
        local jobs = served[queue] and claim(r.id, ARGV[9], ARGV[10], limit, n) or nil
        if jobs and (#jobs[5] > 0 or #jobs[6] > 0) then
          if #adopted == 0 then adopted[1] = redis.call('HGET', K_WF, 'name') end
          local item = {}
          for i = 1, 7 do item[i] = r[RUNNABLE_ATTRS[i]] or '' end
          item[8] = jobs
          adopted[#adopted + 1] = item
        end
      end
    end
  end
end
return reply({ stale, claimed, adopted })
