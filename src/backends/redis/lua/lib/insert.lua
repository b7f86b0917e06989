-- insert.lua: writing new steps and tasks (create, addAfter, addTasks). Included after core.lua.
--
-- A step as the client sends it in ARGV, 17 values followed by its tasks:
--   id name handlerJson dataJson optionsJson maxAttempts retryDelayMs depsJson
--   hasBefore(0|1) hasAfter(0|1) parents("n,n" or '') cond(success|failure|always)
--   dependents("n,n" or '') timer ("<delayMs>|<startAt>", either part empty; '' = none)
--   taskCount bucketCount (0, or taskCount with concurrencyKey) rateBucketCount (0, or taskCount
--   with a keyed rate limit), then taskCount task data JSON values, then bucketCount concurrency
--   buckets, then rateBucketCount rate buckets ('' = none).
-- Step attributes kept in `st` as "<n>:<attr>":
--   id name handler data options maxA delay deps anchor phase aseq parent decl run status stage
--   hb ha total done failed cur (last task seq leased in a range) cseq (children handed out)
--   ch (children "n,n" in call order) kids (dependents) pars (parents) cond fseq ferr (first
--   failed task and its error) fstg (stage a failed step failed in) err sAt fAt rlc (range
--   leases handed out: their ids in `rl` are <n>:1 .. <n>:<rlc>) wfor (JSON names of the events it
--   waits for, '' none) wto (its waitTimeout ms, '' forever) wsince wdue (set while only its
--   events hold it back: since when, when the timeout runs out; stale once it left 'waiting');
--   only for a step with a timer: tmr (as sent) and rat (due time, set when its turn comes; see
--   timer_due in machine.lua)
--   glim klim (globalConcurrency, keyConcurrency; '' = none: see lib/claim.lua claim_limited)
-- A task's concurrency bucket is kept in `td` as "<n>:<seq>:k", its rate bucket as "<n>:<seq>:r"
-- (never read for plain steps).
--   rlim (rate limit name, '' = none) rkey ('1': the limit is keyed, a bucket per task's rate bucket)
--   dhi (set once addTasks added tasks with a delay: the highest such seq; see add-tasks.lua)

local STEP_FIELDS = 17

local function read_step(pos)
  local s = {
    id = ARGV[pos], name = ARGV[pos + 1], handler = ARGV[pos + 2], data = ARGV[pos + 3], options = ARGV[pos + 4],
    maxA = ARGV[pos + 5], delay = ARGV[pos + 6], deps = ARGV[pos + 7], hb = ARGV[pos + 8], ha = ARGV[pos + 9],
    pars = ARGV[pos + 10], cond = ARGV[pos + 11], kids = ARGV[pos + 12], tmr = ARGV[pos + 13], ntasks = tonumber(ARGV[pos + 14]),
    nbuckets = tonumber(ARGV[pos + 15]), nrate = tonumber(ARGV[pos + 16]), tasks_at = pos + STEP_FIELDS,
  }
  return s, pos + STEP_FIELDS + s.ntasks + s.nbuckets + s.nrate
end

-- Stores the buckets ARGV[first ..] of the last `count` tasks of step n (total: its task count),
-- as "<n>:<seq><suffix>" (':k' concurrency, ':r' rate).
local function insert_buckets(n, first, count, total, suffix)
  local batch = {}
  for i = 0, count - 1 do
    local bucket = ARGV[first + i]
    if bucket ~= '' then
      batch[#batch + 1] = n .. ':' .. I(total - count + 1 + i) .. suffix
      batch[#batch + 1] = bucket
    end
    if #batch >= 512 then
      redis.call('HSET', K_TD, unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then redis.call('HSET', K_TD, unpack(batch)) end
end

-- A limit from the step's options JSON, '' when it has none.
local function limit_of(options, name)
  local ok, decoded = pcall(cjson.decode, options)
  local v = ok and type(decoded) == 'table' and decoded[name] or nil
  if type(v) == 'number' then return I(v) end
  return ''
end

-- Appends ARGV[first .. first + count - 1] as tasks of step n; returns the new total.
local function insert_tasks(n, first, count)
  if count == 0 then return snum(n, 'total') or 0 end
  local total = sincr(n, 'total', count)
  if total == nil then return 0 end -- unusable: the step failed on it
  local seq = total - count
  local batch = {}
  for i = 0, count - 1 do
    seq = seq + 1
    batch[#batch + 1] = n .. ':' .. I(seq)
    batch[#batch + 1] = ARGV[first + i]
    if #batch >= 512 then
      redis.call('HSET', K_TD, unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then redis.call('HSET', K_TD, unpack(batch)) end
  return total
end

-- waitFor / waitTimeout of a step's options (ResolvedStepOptions); decoded only when present.
local function wait_options(options)
  if not string.find(options, '"waitFor"', 1, true) then return '', '' end
  local ok, o = pcall(cjson.decode, options)
  if not ok or type(o) ~= 'table' or type(o.waitFor) ~= 'table' or #o.waitFor == 0 then return '', '' end
  local timeout = ''
  if type(o.waitTimeout) == 'number' then timeout = I(o.waitTimeout) end
  return cjson.encode(o.waitFor), timeout
end

-- placement: { anchor = n or '', phase = 'task'|'before'|'after'|'', aseq = number or '', parent = id or '', decl = number }
local function insert_step(n, s, placement)
  redis.call('HSET', K_SX, s.id, n)
  local wfor, wto = wait_options(s.options)
  -- The rate limit the claim checks (lib/claim.lua), read once here rather than on every claim.
  local decoded, options = pcall(cjson.decode, s.options)
  local rlim = decoded and type(options) == 'table' and type(options.rateLimit) == 'string' and options.rateLimit or ''
  local rkey = rlim ~= '' and type(options.rateLimitKey) == 'string' and '1' or ''
  sput(n, {
    'id', s.id, 'name', s.name, 'handler', s.handler, 'data', s.data, 'options', s.options, 'maxA', s.maxA,
    'delay', s.delay, 'deps', s.deps, 'anchor', placement.anchor, 'phase', placement.phase, 'aseq', placement.aseq,
    'parent', placement.parent, 'decl', placement.decl, 'run', '', 'status', 'waiting', 'stage', 'before',
    'hb', s.hb, 'ha', s.ha, 'total', 0, 'done', 0, 'failed', 0, 'cur', 0, 'cseq', 0, 'ch', '', 'kids', s.kids,
    'pars', s.pars, 'cond', s.cond, 'fseq', '', 'ferr', '', 'fstg', '', 'err', '', 'sAt', '', 'fAt', '', 'rlc', 0,
    'wfor', wfor, 'wto', wto, 'wsince', '', 'wdue', '',
    'glim', limit_of(s.options, 'globalConcurrency'), 'klim', limit_of(s.options, 'keyConcurrency'),
    'rlim', rlim, 'rkey', rkey,
  }, true)
  if s.tmr ~= '' then sset(n, 'tmr', s.tmr) end
  local total = insert_tasks(n, s.tasks_at, s.ntasks)
  if s.nbuckets > 0 then insert_buckets(n, s.tasks_at + s.ntasks, s.nbuckets, total, ':k') end
  if s.nrate > 0 then insert_buckets(n, s.tasks_at + s.ntasks + s.nbuckets, s.nrate, total, ':r') end
end
