/**
 * The one options pipeline: user options -> validated at the public call that received them
 * (precise message naming the option, what it must be, what it got) -> defaults applied here.
 * Every duration is in milliseconds.
 */
import { availableParallelism } from 'node:os';
import { ValidationError } from '../errors.js';
import { checkRedisPrefix, checkSchemaName } from '../backends/names.js';
import type { ResolvedStepOptions, StoredWorkflowOptions } from '../backends/types.js';

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
   * Where `handler` runs: in the node's own event loop ('none', default), or in a pool of worker
   * threads ('thread') or child processes ('process') owned by the node, for CPU-heavy work.
   * Isolated, a task that exceeds taskTimeout is really stopped (its worker is replaced).
   */
  isolation: StepIsolation;
}

export type StepIsolation = 'none' | 'thread' | 'process';
const ISOLATIONS: readonly StepIsolation[] = ['none', 'thread', 'process'];

export const DEFAULT_STEP_OPTIONS: Readonly<StepOptions> = Object.freeze({
  taskConcurrency: 1,
  taskTimeout: 0,
  taskMaxFailCount: 1,
  taskFailRetryDelay: 0,
  isolation: 'none',
});

const STEP_OPTION_KEYS = Object.keys(DEFAULT_STEP_OPTIONS) as (keyof StepOptions)[];

export interface WorkflowOptions extends Partial<StepOptions> {
  /** Remove the workflow from the backend as soon as it finishes (after a 5 s grace for readers). Default false. */
  cleanOnDone?: boolean;
  /** Milliseconds a finished workflow is kept; `Infinity` keeps it. Default 7 days. */
  retention?: number;
  /** DeFlow compatibility: 'replace' removes every other workflow with the same name when this one starts. Default 'create'. */
  ifExist?: 'create' | 'replace';
}

export const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** How long a finished `cleanOnDone` workflow is kept, so handles can still read its results. */
export const CLEAN_ON_DONE_GRACE_MS = 5_000;
const WORKFLOW_ONLY_KEYS = ['cleanOnDone', 'retention', 'ifExist'] as const;

/** Redis connection in DeFlow's shape. */
export interface RedisConnectionOptions {
  host?: string;
  port?: number;
  password?: string;
  db?: number;
  /** true, or TLS options (as node:tls takes them). */
  tls?: boolean | Record<string, unknown>;
  maxAttempts?: number;
  connectTimeout?: number;
  retryMaxDelay?: number;
}

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
}

export interface ResolvedRegisterOptions {
  backend: string;
  prefix: string | undefined;
  schema: string | undefined;
  connection: RedisConnectionOptions | undefined;
  checkProcessQueueInterval: number;
  leaseMs: number;
  worker: boolean;
  maxBatch: number;
  drainTimeout: number;
  pollInterval: number;
  poolSize: number;
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
] as const;
const CONNECTION_KEYS = ['host', 'port', 'password', 'db', 'tls', 'maxAttempts', 'connectTimeout', 'retryMaxDelay'] as const;

export const DEFAULT_BACKEND = 'sqlite:./.deflow/deflow.db';
/** A day: heartbeats run every third of a lease, and a longer lease only delays recovery. */
const MAX_LEASE_MS = 86_400_000;

// --- validation primitives ----------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function checkObject(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw new ValidationError(`${where} must be an object, got ${describe(value)}`);
  return value;
}

export function checkKnownKeys(value: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ValidationError(`${where}: unknown option "${key}". Known options: ${known.join(', ')}`);
    }
  }
}

/** Node's timers take at most this many milliseconds; longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

export function integer(value: unknown, name: string, min: number, unit = '', max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const kind = min > 0 ? 'a positive integer' : 'a non-negative integer';
    throw new ValidationError(`${name} must be ${kind}${unit}, got ${describe(value)}`);
  }
  if (value > max) throw new ValidationError(`${name} must be at most ${max}${unit}, got ${value}`);
  return value;
}

function boolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new ValidationError(`${name} must be true or false, got ${describe(value)}`);
  return value;
}

function nonEmptyString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError(`${name} must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** DeFlow's Redis `connection` fields, checked at register() rather than when connecting. */
function checkConnection(raw: Record<string, unknown>, where: string): RedisConnectionOptions {
  if (raw.host !== undefined) nonEmptyString(raw.host, `${where}.host`);
  if (raw.port !== undefined) integer(raw.port, `${where}.port`, 1, '', 65_535);
  if (raw.password !== undefined && typeof raw.password !== 'string') {
    throw new ValidationError(`${where}.password must be a string, got ${describe(raw.password)}`);
  }
  if (raw.db !== undefined) integer(raw.db, `${where}.db`, 0, ' (a Redis database index)');
  if (raw.tls !== undefined && typeof raw.tls !== 'boolean' && !isPlainObject(raw.tls)) {
    throw new ValidationError(`${where}.tls must be true, false or an object of TLS options, got ${describe(raw.tls)}`);
  }
  if (raw.maxAttempts !== undefined) integer(raw.maxAttempts, `${where}.maxAttempts`, 1, ' (reconnect attempts)');
  if (raw.connectTimeout !== undefined) integer(raw.connectTimeout, `${where}.connectTimeout`, 1, ' (milliseconds)', MAX_TIMER_MS);
  if (raw.retryMaxDelay !== undefined) integer(raw.retryMaxDelay, `${where}.retryMaxDelay`, 1, ' (milliseconds)', MAX_TIMER_MS);
  return raw;
}

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
  if (options.taskTimeout !== undefined) out.taskTimeout = integer(options.taskTimeout, `${where}.taskTimeout`, 0, ' (milliseconds, 0 = no timeout)');
  if (options.taskMaxFailCount !== undefined) {
    out.taskMaxFailCount = integer(options.taskMaxFailCount, `${where}.taskMaxFailCount`, 1, ' (total attempts)');
  }
  if (options.taskFailRetryDelay !== undefined) {
    out.taskFailRetryDelay = integer(options.taskFailRetryDelay, `${where}.taskFailRetryDelay`, 0, ' (milliseconds)');
  }
  if (options.isolation !== undefined) {
    if (!ISOLATIONS.includes(options.isolation as StepIsolation)) {
      throw new ValidationError(`${where}.isolation must be "none", "thread" or "process", got ${describe(options.isolation)}`);
    }
    out.isolation = options.isolation as StepIsolation;
  }
  return out;
}

/** Applies the precedence chain: defaults < workflow < handler < call site. */
export function resolveStepOptions(...layers: (Partial<StepOptions> | undefined)[]): ResolvedStepOptions {
  const resolved: StepOptions = { ...DEFAULT_STEP_OPTIONS };
  for (const layer of layers) {
    if (layer === undefined) continue;
    const defined = Object.entries(layer).filter(([key, value]) => value !== undefined && STEP_OPTION_KEYS.includes(key as keyof StepOptions));
    Object.assign(resolved, Object.fromEntries(defined));
  }
  return resolved;
}

// --- workflow options ---------------------------------------------------------------------------

export interface ResolvedWorkflowOptions {
  stored: StoredWorkflowOptions;
  replaceByName: boolean;
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
  return { stored: { cleanOnDone, retentionMs, keepMs, stepDefaults }, replaceByName: ifExist === 'replace' };
}

// --- register options ---------------------------------------------------------------------------

export function checkRegisterOptions(value: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedRegisterOptions {
  const where = 'DeFlow.register options';
  const options = checkObject(value, where);
  checkKnownKeys(options, REGISTER_KEYS, where);
  let connection: RedisConnectionOptions | undefined;
  if (options.connection !== undefined) {
    const raw = checkObject(options.connection, `${where}.connection`);
    checkKnownKeys(raw, CONNECTION_KEYS, `${where}.connection`);
    connection = checkConnection(raw, `${where}.connection`);
  }
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
    prefix: options.prefix === undefined ? undefined : checkRedisPrefix(nonEmptyString(options.prefix, `${where}.prefix`)),
    schema: options.schema === undefined ? undefined : checkSchemaName(nonEmptyString(options.schema, `${where}.schema`)),
    checkProcessQueueInterval:
      options.checkProcessQueueInterval === undefined
        ? 2000
        : integer(options.checkProcessQueueInterval, `${where}.checkProcessQueueInterval`, 0, ' (milliseconds, 0 = off)', MAX_TIMER_MS),
    leaseMs:
      options.leaseMs === undefined ? 10_000 : integer(options.leaseMs, `${where}.leaseMs`, 100, ' (milliseconds, at least 100)', MAX_LEASE_MS),
    worker: options.worker === undefined ? true : boolean(options.worker, `${where}.worker`),
    maxBatch: options.maxBatch === undefined ? 1000 : integer(options.maxBatch, `${where}.maxBatch`, 1),
    drainTimeout:
      options.drainTimeout === undefined ? 30_000 : integer(options.drainTimeout, `${where}.drainTimeout`, 0, ' (milliseconds)', MAX_TIMER_MS),
    pollInterval:
      options.pollInterval === undefined ? 50 : integer(options.pollInterval, `${where}.pollInterval`, 1, ' (milliseconds)', MAX_TIMER_MS),
    poolSize: options.poolSize === undefined ? availableParallelism() : integer(options.poolSize, `${where}.poolSize`, 1),
  };
}

/** Stored step options as the public Step shows them (records written before `isolation` existed lack it). */
export function toStepOptions(stored: ResolvedStepOptions): StepOptions {
  return { ...stored, isolation: stored.isolation ?? 'none' };
}
