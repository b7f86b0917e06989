/**
 * The one options pipeline: user options -> validated at the public call that received them
 * (precise message naming the option, what it must be, what it got) -> defaults applied here.
 * Every duration is in milliseconds.
 */
import { availableParallelism } from 'node:os';
import type { BackendInput, RedisConnectionOptions } from '../backends/registry.js';
import { DEFAULT_MAX_NODE_LOSSES, DEFAULT_QUEUE } from '../backends/policy.js';
import type { ResolvedStepOptions, StoredWorkflowOptions } from '../backends/records.js';
import { ValidationError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../engine/json.js';
import { boolean, checkKnownKeys, checkNoNul, checkObject, describe, duration, integer, isPlainObject, nonEmptyString } from '../option-checks.js';
import { checkStepDirs } from './step-dirs.js';
import { checkWorkflowId, checkWorkflowKey } from './workflow-identity.js';

/** Per-step behaviour. Precedence: defaults < WorkFlow.create < StepHandler.options < addStep/addAfter. */
export interface StepOptions {
  /** Tasks of the step one node runs at the same time. Default 1. */
  taskConcurrency: number;
  /** Milliseconds before a task attempt fails with a TimeoutError (its `task.signal` aborts). 0 = no limit. Default 0. */
  taskTimeout: number;
  /** Total attempts of a task before it fails for good. Default 1 (no retry). */
  taskMaxFailCount: number;
  /** Milliseconds before a failed task can be tried again (the node keeps working meanwhile). Default 0. */
  taskFailRetryDelay: number;
  /**
   * Times a task (or hook) may be lost with its node (process killed, lease expired) before it
   * fails for good with ERR_NODE_LOST. Lost attempts do not count toward taskMaxFailCount, so
   * restarts fail no work; the limit stops a task that crashes its process from running forever.
   * Default 3.
   */
  maxNodeLosses: number;
  /**
   * Where `handler` runs: in the node's own event loop ('none', default), or in a pool of worker
   * threads ('thread') or child processes ('process') owned by the node, for CPU-heavy work.
   * Isolated, a task that exceeds taskTimeout is really stopped (its worker is replaced).
   */
  isolation: StepIsolation;
  /**
   * How the wait before a retry grows: 'fixed' waits taskFailRetryDelay every time (no
   * jitter); 'exponential' waits a random time between 0 and taskFailRetryDelay * 2^(attempt-1)
   * (full jitter), at most taskRetryDelayMax. Default 'fixed'.
   */
  taskRetryBackoff: RetryBackoff;
  /** Longest wait before a retry, in milliseconds; 0 = no limit. Default 0. */
  taskRetryDelayMax: number;
  /**
   * Most attempts of this step in flight (leased) at once across every node. Enforced by the
   * backend when it leases jobs. Default: no limit.
   */
  globalConcurrency?: number;
  /**
   * Dotted path into each task's data (`'customerId'`, `'customer.id'`) whose value (a string or
   * a number) names the task's concurrency bucket; give it with `keyConcurrency`. Buckets are
   * namespaced by the step's handler (its name), and shared by every workflow and step that uses
   * that handler. A task whose data lacks the path fails with a ValidationError.
   */
  concurrencyKey?: string;
  /** Most attempts in flight at once per bucket (see concurrencyKey), across every node. */
  keyConcurrency?: number;
  /**
   * A rate limit set with `DeFlow.setRateLimit`: every task start of this step counts against it,
   * across every node (hooks do not). Its name, or `{ name, key }` for a bucket per key value:
   * `key` is a dotted path into task data (like concurrencyKey), and each value gets the limit's
   * own `max` per `per`, shared by every step that names the limit with a key. A task whose data
   * lacks the key fails with a ValidationError. Default: none.
   */
  rateLimit?: string | KeyedRateLimit;
  /** Which runnable step a node claims first: higher first, FIFO (oldest workflow) within one priority. Default 0. */
  priority?: number;
  /**
   * The named queue the step's jobs go to: only nodes registered with this queue
   * (`DeFlow.register({ queues })`) run them. Default `'default'`.
   */
  queue?: string;
}

/** A rate limit with one bucket per value at `key` (a dotted path into task data). */
export interface KeyedRateLimit {
  name: string;
  key: string;
}

export type RetryBackoff = 'fixed' | 'exponential';
const BACKOFFS: readonly RetryBackoff[] = ['fixed', 'exponential'];

export type StepIsolation = 'none' | 'thread' | 'process';
const ISOLATIONS: readonly StepIsolation[] = ['none', 'thread', 'process'];

export const DEFAULT_STEP_OPTIONS: Readonly<StepOptions> = Object.freeze({
  taskConcurrency: 1,
  taskTimeout: 0,
  taskMaxFailCount: 1,
  taskFailRetryDelay: 0,
  maxNodeLosses: DEFAULT_MAX_NODE_LOSSES,
  isolation: 'none',
  taskRetryBackoff: 'fixed',
  taskRetryDelayMax: 0,
});

/** The largest maxNodeLosses: backends keep it as a 32-bit integer. */
const MAX_NODE_LOSSES = 2_147_483_647;

/** Fair-sharing limits: no default (absent = no limit), so they are listed apart. */
const LIMIT_KEYS = ['globalConcurrency', 'concurrencyKey', 'keyConcurrency'] as const;
/** Concurrency limits are counted in 32-bit integers by the backends. */
const MAX_CONCURRENCY = 2_147_483_647;

/** Options without a default value (absent from DEFAULT_STEP_OPTIONS, absent from steps that do not set them). */
const OPTIONAL_STEP_OPTION_KEYS = ['rateLimit', 'priority', 'queue'] as const;
const STEP_OPTION_KEYS = [...Object.keys(DEFAULT_STEP_OPTIONS), ...LIMIT_KEYS, ...OPTIONAL_STEP_OPTION_KEYS] as (keyof StepOptions)[];
/** Priorities are kept as 32-bit integers by every backend. */
const MAX_PRIORITY = 2_147_483_647;

export interface WorkflowOptions extends Partial<StepOptions> {
  /** Remove the workflow from the backend as soon as it finishes (after a 5 s grace for readers). Default false. */
  cleanOnDone?: boolean;
  /** Milliseconds a finished workflow is kept; `Infinity` keeps it. Default 7 days. */
  retention?: number;
  /** DeFlow compatibility: 'replace' removes every other workflow with the same name when this one starts. Default 'create'. */
  ifExist?: 'create' | 'replace';
  /**
   * The workflow's id, chosen by the caller (default: generated from the name). Starting a
   * workflow whose id exists creates nothing: the handle follows the existing one (an
   * idempotent start), or fails with a WorkflowConflictError when that one has another name or key.
   */
  id?: string;
  /** A business key (an order id...) stored with the workflow, to list and find it by (`WorkFlow.getByKey`). */
  key?: string;
}

export const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** How long a finished `cleanOnDone` workflow is kept, so handles can still read its results. */
export const CLEAN_ON_DONE_GRACE_MS = 5_000;
const WORKFLOW_ONLY_KEYS = ['cleanOnDone', 'retention', 'ifExist', 'id', 'key'] as const;

export interface RegisterOptions {
  /** `sqlite:/path/file.db`, `redis://…`, `rediss://…`, `postgres://…`. Default: `$DEFLOW_BACKEND`, else `sqlite:./.deflow/deflow.db`. */
  backend?: string;
  /** DeFlow-compatible Redis connection (selects the Redis backend). */
  connection?: RedisConnectionOptions;
  /** Key namespace (Redis) so apps sharing a server do not see each other's work. */
  prefix?: string;
  /** PostgreSQL schema. Default `deflow`. */
  schema?: string;
  /** Milliseconds between two checks for jobs of dead nodes. 0 disables it on this process. Default 2000. */
  checkProcessQueueInterval?: number;
  /** Milliseconds a node may go without a heartbeat before its jobs are taken back. Default 10000. */
  leaseMs?: number;
  /** Run jobs in this process (true) or only create and watch workflows (false). Default true. */
  worker?: boolean;
  /** Most jobs claimed or completed per round trip. Default 1000. */
  maxBatch?: number;
  /** Milliseconds unregister() waits for running jobs before aborting them. Default 30000. */
  drainTimeout?: number;
  /** Milliseconds between checks for changes made by other processes (SQLite). Default 50. */
  pollInterval?: number;
  /** Workers in each pool that runs isolated steps (`isolation: 'thread' | 'process'`). Default: the number of cores. */
  poolSize?: number;
  /**
   * Directories this process may import step modules from when it runs a step it has not
   * loaded (symlinks resolved). Default: the working directory. See docs/api.md#step-modules.
   */
  stepDirs?: string[];
  /** Largest payload (task data, step data, a task's result) in bytes of JSON (UTF-8). Default 1 MiB. */
  maxPayloadBytes?: number;
  /**
   * Milliseconds `ready()` keeps trying to reach a Redis or PostgreSQL server that is down or
   * still starting (backoff with jitter, each retry reported) before it rejects. 0 = fail at once. Default 60000.
   */
  startupTimeout?: number;
  /**
   * Most tasks of one step that `done()`, `results()` and the 'done' event carry in
   * `steps[i].tasks`; a bigger step carries its summary only (read its tasks with
   * `iterateResults`). Default 10000; `Infinity` loads every task, as earlier versions always did.
   */
  resultTasks?: number;
  /** The queues whose steps this process runs (step option `queue`). Default `['default']`. */
  queues?: string[];
}

export interface ResolvedRegisterOptions {
  backend: string;
  /** Checked by the backend that reads it, when the registry chooses the backend. */
  prefix: string | undefined;
  schema: string | undefined;
  /** DeFlow's Redis connection object, as given: the Redis backend checks its fields. */
  connection: Readonly<Record<string, unknown>> | undefined;
  checkProcessQueueInterval: number;
  leaseMs: number;
  worker: boolean;
  maxBatch: number;
  drainTimeout: number;
  pollInterval: number;
  poolSize: number;
  /** Absolute; empty: the working directory. */
  stepDirs: string[];
  maxPayloadBytes: number;
  startupTimeout: number;
  resultTasks: number;
  queues: string[];
}

const REGISTER_KEYS = [
  'backend',
  'connection',
  'prefix',
  'schema',
  'checkProcessQueueInterval',
  'leaseMs',
  'worker',
  'maxBatch',
  'drainTimeout',
  'pollInterval',
  'poolSize',
  'stepDirs',
  'maxPayloadBytes',
  'startupTimeout',
  'resultTasks',
  'queues',
] as const;

export const DEFAULT_BACKEND = 'sqlite:./.deflow/deflow.db';
/** A step of more tasks is left out of results (its summary stays): 10,000 tasks hold a few MB. */
const DEFAULT_RESULT_TASKS = 10_000;
/** 256 MiB: PostgreSQL and Redis hold more, but every reader parses a payload whole. */
const MAX_PAYLOAD_BYTES_CAP = 256 * 1024 * 1024;
/** How long a starting node waits for an unreachable Redis or PostgreSQL server. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 60_000;
/** A day: heartbeats run every third of a lease, and a longer lease only delays recovery. */
const MAX_LEASE_MS = 86_400_000;

// --- step options -------------------------------------------------------------------------------

/** Validates a partial StepOptions given at `where` (e.g. "addStep options"). */
export function checkStepOptions(value: unknown, where: string): Partial<StepOptions> {
  const options = checkObject(value, where);
  checkKnownKeys(options, STEP_OPTION_KEYS, where);
  return pickStepOptions(options, where);
}

function pickStepOptions(options: Record<string, unknown>, where: string): Partial<StepOptions> {
  const out: Partial<StepOptions> = {};
  if (options.taskConcurrency !== undefined) out.taskConcurrency = integer(options.taskConcurrency, `${where}.taskConcurrency`, 1);
  if (options.taskTimeout !== undefined) out.taskTimeout = duration(options.taskTimeout, `${where}.taskTimeout`, 0, ' (milliseconds, 0 = no timeout)');
  if (options.taskMaxFailCount !== undefined) {
    out.taskMaxFailCount = integer(options.taskMaxFailCount, `${where}.taskMaxFailCount`, 1, ' (total attempts)');
  }
  if (options.taskFailRetryDelay !== undefined) {
    out.taskFailRetryDelay = duration(options.taskFailRetryDelay, `${where}.taskFailRetryDelay`, 0, ' (milliseconds)');
  }
  if (options.maxNodeLosses !== undefined) {
    // Infinity is refused on purpose: a task that crashes its process would then run forever.
    out.maxNodeLosses = integer(
      options.maxNodeLosses,
      `${where}.maxNodeLosses`,
      1,
      ' (times a task may be lost with its node; Infinity is not allowed, a task that crashes its process would run forever)',
      MAX_NODE_LOSSES,
    );
  }
  if (options.isolation !== undefined) {
    if (!ISOLATIONS.includes(options.isolation as StepIsolation)) {
      throw new ValidationError(`${where}.isolation must be "none", "thread" or "process", got ${describe(options.isolation)}`);
    }
    out.isolation = options.isolation as StepIsolation;
  }
  if (options.taskRetryBackoff !== undefined) {
    if (!BACKOFFS.includes(options.taskRetryBackoff as RetryBackoff)) {
      throw new ValidationError(`${where}.taskRetryBackoff must be "fixed" or "exponential", got ${describe(options.taskRetryBackoff)}`);
    }
    out.taskRetryBackoff = options.taskRetryBackoff as RetryBackoff;
  }
  if (options.taskRetryDelayMax !== undefined) {
    out.taskRetryDelayMax = duration(options.taskRetryDelayMax, `${where}.taskRetryDelayMax`, 0, ' (milliseconds, 0 = no limit)');
  }
  pickLimits(options, where, out);
  if (options.rateLimit !== undefined) out.rateLimit = checkRateLimitRef(options.rateLimit, `${where}.rateLimit`);
  if (options.priority !== undefined) {
    const priority = options.priority;
    if (typeof priority !== 'number' || !Number.isInteger(priority) || Math.abs(priority) > MAX_PRIORITY) {
      throw new ValidationError(`${where}.priority must be an integer between -${MAX_PRIORITY} and ${MAX_PRIORITY} (higher runs first), got ${describe(priority)}`);
    }
    out.priority = priority;
  }
  // The default queue is not stored: steps without one (and steps stored before queues) read as 'default'.
  if (options.queue !== undefined) {
    const queue = checkQueueName(options.queue, `${where}.queue`);
    if (queue !== DEFAULT_QUEUE) out.queue = queue;
  }
  return out;
}

/** Concurrency limits; a key and its limit only come together, in the same options object. */
function pickLimits(options: Record<string, unknown>, where: string, out: Partial<StepOptions>): void {
  if (options.globalConcurrency !== undefined) {
    out.globalConcurrency = integer(options.globalConcurrency, `${where}.globalConcurrency`, 1, ' (attempts in flight across all nodes)', MAX_CONCURRENCY);
  }
  const hasKey = options.concurrencyKey !== undefined;
  const hasLimit = options.keyConcurrency !== undefined;
  if (hasKey !== hasLimit) {
    throw new ValidationError(
      hasKey
        ? `${where}.concurrencyKey needs keyConcurrency (the most attempts in flight per key value), given in the same options`
        : `${where}.keyConcurrency needs concurrencyKey (the path in task data whose value groups tasks, e.g. "customerId"), given in the same options`,
    );
  }
  if (hasKey) {
    out.concurrencyKey = checkKeyPath(options.concurrencyKey, `${where}.concurrencyKey`);
    out.keyConcurrency = integer(options.keyConcurrency, `${where}.keyConcurrency`, 1, ' (attempts in flight per key value)', MAX_CONCURRENCY);
  }
}

function checkKeyPath(value: unknown, name: string): string {
  const path = checkNoNul(nonEmptyString(value, name), name);
  if (path.split('.').some((part) => part.length === 0)) {
    throw new ValidationError(`${name} must be a dotted path of property names such as "customerId" or "customer.id", got ${describe(path)}`);
  }
  return path;
}

/** The step option rateLimit: a limit's name, or `{ name, key }` for a bucket per key value. */
function checkRateLimitRef(value: unknown, where: string): string | KeyedRateLimit {
  if (!isPlainObject(value)) {
    if (typeof value !== 'string') {
      throw new ValidationError(`${where} must be a rate limit name or { name, key } (a bucket per key value), got ${describe(value)}`);
    }
    return checkRateLimitName(value, where);
  }
  checkKnownKeys(value, ['name', 'key'], where);
  if (value.key === undefined) {
    throw new ValidationError(`${where} needs key, the path in task data whose value gets a bucket of its own (e.g. "accountId"), beside name`);
  }
  return { name: checkRateLimitName(value.name, `${where}.name`), key: checkKeyPath(value.key, `${where}.key`) };
}

/** A rate limit name: a non-empty string without NUL, at most 200 characters. */
export function checkRateLimitName(value: unknown, where: string): string {
  const name = checkNoNul(nonEmptyString(value, where), where);
  if (name.length > 200) throw new ValidationError(`${where} must be at most 200 characters, got ${name.length}`);
  return name;
}

/** Queue names are index keys in every backend (and part of Redis key names): kept short. */
const MAX_QUEUE_NAME = 100;

/** A queue name: 1 to 100 characters, no control character, no comma (`--queues a,b` lists them). */
export function checkQueueName(value: unknown, where: string): string {
  const name = nonEmptyString(value, where);
  if (name.length > MAX_QUEUE_NAME) throw new ValidationError(`${where} must be at most ${MAX_QUEUE_NAME} characters, got ${name.length}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f,]/.test(name)) {
    throw new ValidationError(`${where} must not contain control characters or commas, got ${describe(name)}`);
  }
  return name;
}

/** `DeFlow.register` queues: a non-empty list of queue names, duplicates dropped. */
export function checkQueueList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ValidationError(`${where} must be a non-empty array of queue names, e.g. ['default', 'billing'], got ${describe(value)}`);
  }
  return [...new Set(value.map((queue, i) => checkQueueName(queue, `${where}[${i}]`)))];
}

/** `DeFlow.setRateLimit` options: at most `max` task starts in any window of `per` milliseconds. */
export interface RateLimitOptions {
  /** Starts allowed in one window (an integer, at least 1). */
  max: number;
  /** The window, in milliseconds (an integer, at least 1). */
  per: number;
}

/** Largest `max`: the backends remember one timestamp per start in the window. */
export const MAX_RATE_LIMIT_MAX = 100_000;

export function checkRateLimitOptions(name: unknown, value: unknown): { name: string; max: number; perMs: number } {
  const where = 'DeFlow.setRateLimit';
  const checkedName = checkRateLimitName(name, `${where} name`);
  const options = checkObject(value, `${where} options`);
  checkKnownKeys(options, ['max', 'per'], `${where} options`);
  if (options.max === undefined || options.per === undefined) {
    throw new ValidationError(`${where} options need both max (starts) and per (milliseconds), e.g. { max: 10, per: 1000 }`);
  }
  const max = integer(options.max, `${where} options.max`, 1, ' (task starts per window)', MAX_RATE_LIMIT_MAX);
  const perMs = integer(options.per, `${where} options.per`, 1, ' (the window, in milliseconds)', MAX_LEASE_MS * 365);
  return { name: checkedName, max, perMs };
}

/** Applies the precedence chain: defaults < workflow < handler < call site. */
export function resolveStepOptions(...layers: (Partial<StepOptions> | Partial<ResolvedStepOptions> | undefined)[]): ResolvedStepOptions {
  const resolved: StepOptions = { ...DEFAULT_STEP_OPTIONS };
  for (const stored of layers) {
    if (stored === undefined) continue;
    const layer = publicRateLimit(stored);
    const defined = Object.entries(layer).filter(([key, value]) => value !== undefined && STEP_OPTION_KEYS.includes(key as keyof StepOptions));
    Object.assign(resolved, Object.fromEntries(defined));
  }
  // Stored flat (rateLimit stays a name, which every backend reads as before) plus the key path.
  const { rateLimit, ...rest } = resolved;
  if (rateLimit === undefined) return rest;
  return typeof rateLimit === 'string' ? { ...rest, rateLimit } : { ...rest, rateLimit: rateLimit.name, rateLimitKey: rateLimit.key };
}

// --- workflow options ---------------------------------------------------------------------------

export interface ResolvedWorkflowOptions {
  stored: StoredWorkflowOptions;
  replaceByName: boolean;
  /** Chosen by the caller; undefined: generated. */
  id: string | undefined;
  key: string | null;
}

export function checkWorkflowOptions(value: unknown): ResolvedWorkflowOptions {
  const where = 'WorkFlow.create options';
  const options = checkObject(value, where);
  checkKnownKeys(options, [...STEP_OPTION_KEYS, ...WORKFLOW_ONLY_KEYS], where);
  const stepDefaults = pickStepOptions(options, where);
  const cleanOnDone = options.cleanOnDone === undefined ? false : boolean(options.cleanOnDone, `${where}.cleanOnDone`);
  let retentionMs: number | null = DEFAULT_RETENTION_MS;
  if (options.retention !== undefined) {
    retentionMs = options.retention === Infinity ? null : integer(options.retention, `${where}.retention`, 0, ' (milliseconds, or Infinity)');
  }
  const ifExist = options.ifExist ?? 'create';
  if (ifExist !== 'create' && ifExist !== 'replace') {
    throw new ValidationError(`${where}.ifExist must be "create" or "replace", got ${describe(ifExist)}`);
  }
  // The one place the grace is decided: backends only read keepMs.
  const keepMs = cleanOnDone ? CLEAN_ON_DONE_GRACE_MS : retentionMs;
  return {
    stored: { cleanOnDone, retentionMs, keepMs, stepDefaults: storedDefaults(stepDefaults) },
    replaceByName: ifExist === 'replace',
    id: options.id === undefined ? undefined : checkWorkflowId(options.id, `${where}.id`),
    key: options.key === undefined ? null : checkWorkflowKey(options.key, `${where}.key`),
  };
}

// --- register options ---------------------------------------------------------------------------

export function checkRegisterOptions(value: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedRegisterOptions {
  const where = 'DeFlow.register options';
  const options = checkObject(value, where);
  checkKnownKeys(options, REGISTER_KEYS, where);
  const connection = options.connection === undefined ? undefined : checkObject(options.connection, `${where}.connection`);
  if (options.backend !== undefined && connection !== undefined) {
    throw new ValidationError(`${where}: give either "backend" or "connection", not both`);
  }
  const backend =
    options.backend !== undefined
      ? nonEmptyString(options.backend, `${where}.backend`)
      : connection !== undefined
        ? 'redis:'
        : (env.DEFLOW_BACKEND ?? DEFAULT_BACKEND);
  return {
    backend,
    connection,
    prefix: options.prefix === undefined ? undefined : nonEmptyString(options.prefix, `${where}.prefix`),
    schema: options.schema === undefined ? undefined : nonEmptyString(options.schema, `${where}.schema`),
    checkProcessQueueInterval:
      options.checkProcessQueueInterval === undefined
        ? 2000
        : duration(options.checkProcessQueueInterval, `${where}.checkProcessQueueInterval`, 0, ' (milliseconds, 0 = off)'),
    leaseMs:
      options.leaseMs === undefined ? 10_000 : integer(options.leaseMs, `${where}.leaseMs`, 100, ' (milliseconds, at least 100)', MAX_LEASE_MS),
    worker: options.worker === undefined ? true : boolean(options.worker, `${where}.worker`),
    maxBatch: options.maxBatch === undefined ? 1000 : integer(options.maxBatch, `${where}.maxBatch`, 1),
    drainTimeout:
      options.drainTimeout === undefined ? 30_000 : duration(options.drainTimeout, `${where}.drainTimeout`, 0),
    pollInterval:
      options.pollInterval === undefined ? 50 : duration(options.pollInterval, `${where}.pollInterval`, 1),
    poolSize: options.poolSize === undefined ? availableParallelism() : integer(options.poolSize, `${where}.poolSize`, 1),
    stepDirs: checkStepDirs(options.stepDirs, `${where}.stepDirs`),
    maxPayloadBytes:
      options.maxPayloadBytes === undefined
        ? DEFAULT_MAX_PAYLOAD_BYTES
        : integer(options.maxPayloadBytes, `${where}.maxPayloadBytes`, 1, ' (bytes of JSON)', MAX_PAYLOAD_BYTES_CAP),
    startupTimeout:
      options.startupTimeout === undefined
        ? DEFAULT_STARTUP_TIMEOUT_MS
        : duration(options.startupTimeout, `${where}.startupTimeout`, 0, ' (milliseconds, 0 = fail at once)'),
    resultTasks:
      options.resultTasks === undefined
        ? DEFAULT_RESULT_TASKS
        : options.resultTasks === Infinity
          ? Infinity
          : integer(options.resultTasks, `${where}.resultTasks`, 0, ' (tasks, or Infinity)'),
    queues: options.queues === undefined ? [DEFAULT_QUEUE] : checkQueueList(options.queues, `${where}.queues`),
  };
}

/** Options (a layer, stored step defaults) with their rate limit in the public form (`{ name, key }` for a keyed one). */
export function publicRateLimit(layer: Partial<StepOptions> | Partial<ResolvedStepOptions>): Partial<StepOptions> {
  if (!('rateLimitKey' in layer) || layer.rateLimitKey === undefined || typeof layer.rateLimit !== 'string') return layer;
  const { rateLimitKey, ...rest } = layer;
  return { ...rest, rateLimit: { name: layer.rateLimit, key: rateLimitKey } };
}

/** Step option defaults as a workflow stores them (a keyed rate limit flat, as steps store it). */
function storedDefaults(defaults: Partial<StepOptions>): Partial<ResolvedStepOptions> {
  const { rateLimit, ...rest } = defaults;
  if (rateLimit === undefined) return rest;
  return typeof rateLimit === 'string' ? { ...rest, rateLimit } : { ...rest, rateLimit: rateLimit.name, rateLimitKey: rateLimit.key };
}

/** Stored step options as the public Step shows them (records written before `isolation` or `maxNodeLosses` existed lack them). */
export function toStepOptions(stored: ResolvedStepOptions): StepOptions {
  const { rateLimit, rateLimitKey, ...rest } = stored;
  const rate = rateLimit === undefined ? {} : { rateLimit: rateLimitKey === undefined ? rateLimit : { name: rateLimit, key: rateLimitKey } };
  return {
    ...rest,
    ...rate,
    maxNodeLosses: stored.maxNodeLosses ?? DEFAULT_MAX_NODE_LOSSES,
    isolation: stored.isolation ?? 'none',
    taskRetryBackoff: stored.taskRetryBackoff ?? 'fixed',
    taskRetryDelayMax: stored.taskRetryDelayMax ?? 0,
  };
}

/** The backend part of the register options, as the backend registry takes it. */
export function backendInput(options: ResolvedRegisterOptions): BackendInput {
  return {
    url: options.backend,
    connection: options.connection,
    prefix: options.prefix,
    schema: options.schema,
    pollIntervalMs: options.pollInterval,
    recoverIntervalMs: options.checkProcessQueueInterval,
  };
}
