/**
 * The one options pipeline of a farm: user options → defaults → validation, all here, so every
 * rule has one message (`options.<name> must be ..., got <value>`) and one test.
 */
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { ForkOptions } from 'node:child_process';
import type { ResourceLimits, WorkerOptions } from 'node:worker_threads';
import { ValidationError } from './errors.js';
import { isBuiltinSerializer, type FarmSerializerName } from './serializers.js';

export type FarmWorkerType = 'process' | 'thread';

/** child_process.fork options; the farm owns `serialization`, `signal`, `timeout` and `killSignal`. */
export interface FarmForkOptions extends Omit<ForkOptions, 'serialization' | 'signal' | 'timeout' | 'killSignal'> {
  /** Arguments seen by the worker as `process.argv.slice(2)`. Default: none. */
  args?: string[];
}

/** worker_threads.Worker options the farm passes through. */
export type FarmThreadOptions = Pick<WorkerOptions, 'env' | 'execArgv' | 'argv' | 'stdin' | 'stdout' | 'stderr' | 'trackUnmanagedFds'> & {
  resourceLimits?: ResourceLimits;
};

export interface FarmOptions {
  /** Absolute path or file: URL of the module whose exports the workers run (.js, .mjs, .cjs or .ts). */
  module: string | URL;
  /** Child processes (default) or worker threads. */
  type?: FarmWorkerType;
  /** Workers kept alive. Default: `os.availableParallelism()`. */
  numberOfWorkers?: number;
  /** Calls one worker runs at once. Default: 10. */
  maxConcurrentCallsPerWorker?: number;
  /** Calls the farm holds, queued plus running; more reject with MaxConcurrentCallsError. Default: Infinity. */
  maxConcurrentCalls?: number;
  /** Times a call is re-sent after its worker crashed or it timed out. Default: 3. */
  maxRetries?: number;
  /** Milliseconds a call may run on a worker before the worker is killed. Default: Infinity. */
  timeout?: number;
  /** Calls a worker receives before it is replaced by a fresh one. Default: Infinity. */
  ttl?: number;
  /** Milliseconds a worker may stay without a call (from its start) before it is stopped. Default: Infinity. */
  maxIdleTime?: number;
  /** Milliseconds a stopping worker gets before SIGKILL (threads: terminate()). Default: 500. */
  killTimeout?: number;
  /**
   * Milliseconds a new worker may take to load the module (and the serializer) before it is
   * killed and counted as a failure to start (ModuleLoadError). Default: 30000.
   */
  startupTimeout?: number;
  /** Memory in MiB above which a worker is replaced once its running calls finish. Default: Infinity. */
  maxMemoryMb?: number;
  /** 'json' (default), 'advanced', 'cbor', or the absolute path / file: URL of a custom serializer module. */
  serializer?: FarmSerializerName | (string & {});
  /** Workestrator's name for `serializer`, accepted as an alias. */
  serializerPath?: string;
  /** child_process.fork options (type 'process' only). */
  fork?: FarmForkOptions;
  /** worker_threads options (type 'thread' only). */
  thread?: FarmThreadOptions;
}

export interface ResolvedFarmOptions {
  readonly moduleUrl: string;
  readonly type: FarmWorkerType;
  readonly numberOfWorkers: number;
  readonly maxConcurrentCallsPerWorker: number;
  readonly maxConcurrentCalls: number;
  readonly maxRetries: number;
  readonly timeout: number;
  readonly ttl: number;
  readonly maxIdleTime: number;
  readonly killTimeout: number;
  readonly startupTimeout: number;
  readonly maxMemoryMb: number;
  /** A built-in name or the file: URL of a custom serializer module. */
  readonly serializer: string;
  readonly fork: Readonly<FarmForkOptions>;
  readonly thread: Readonly<FarmThreadOptions>;
}

export const DEFAULTS = {
  type: 'process',
  maxConcurrentCallsPerWorker: 10,
  maxConcurrentCalls: Infinity,
  maxRetries: 3,
  timeout: Infinity,
  ttl: Infinity,
  maxIdleTime: Infinity,
  killTimeout: 500,
  startupTimeout: 30_000,
  maxMemoryMb: Infinity,
  serializer: 'json',
} as const;

const KNOWN_KEYS = new Set<string>([
  'module', 'type', 'numberOfWorkers', 'maxConcurrentCallsPerWorker', 'maxConcurrentCalls', 'maxRetries',
  'timeout', 'ttl', 'maxIdleTime', 'killTimeout', 'startupTimeout', 'maxMemoryMb', 'serializer', 'serializerPath', 'fork', 'thread',
]);

/** Fork options the farm sets itself; a user value would break the protocol or the lifecycle. */
const OWNED_FORK_KEYS = ['serialization', 'signal', 'timeout', 'killSignal'];
const OWNED_THREAD_KEYS = ['workerData', 'eval', 'transferList'];

export function resolveOptions(input: FarmOptions): ResolvedFarmOptions {
  if (input === null || typeof input !== 'object') throw fail('options must be an object', input);
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) throw new ValidationError(`options.${key} is not a farm option`);
  }
  const type = input.type ?? DEFAULTS.type;
  if (type !== 'process' && type !== 'thread') throw fail("options.type must be 'process' or 'thread'", type);
  if (input.fork !== undefined && type !== 'process') throw new ValidationError("options.fork applies to type 'process' only");
  if (input.thread !== undefined && type !== 'thread') throw new ValidationError("options.thread applies to type 'thread' only");

  return Object.freeze({
    moduleUrl: moduleUrl('options.module', input.module),
    type,
    numberOfWorkers: positiveInteger('numberOfWorkers', input.numberOfWorkers, os.availableParallelism()),
    maxConcurrentCallsPerWorker: positiveInteger('maxConcurrentCallsPerWorker', input.maxConcurrentCallsPerWorker, DEFAULTS.maxConcurrentCallsPerWorker),
    maxConcurrentCalls: positiveIntegerOrInfinity('maxConcurrentCalls', input.maxConcurrentCalls, DEFAULTS.maxConcurrentCalls),
    maxRetries: nonNegativeInteger('maxRetries', input.maxRetries, DEFAULTS.maxRetries),
    timeout: positiveNumber('timeout', input.timeout, DEFAULTS.timeout),
    ttl: positiveIntegerOrInfinity('ttl', input.ttl, DEFAULTS.ttl),
    maxIdleTime: positiveNumber('maxIdleTime', input.maxIdleTime, DEFAULTS.maxIdleTime),
    killTimeout: nonNegativeFinite('killTimeout', input.killTimeout, DEFAULTS.killTimeout),
    startupTimeout: positiveNumber('startupTimeout', input.startupTimeout, DEFAULTS.startupTimeout),
    maxMemoryMb: positiveNumber('maxMemoryMb', input.maxMemoryMb, DEFAULTS.maxMemoryMb, 'options', 'MiB'),
    serializer: serializer(input.serializer, input.serializerPath),
    fork: forkOptions(input.fork),
    thread: threadOptions(input.thread),
  });
}

/** Per-call timeout given to `farm.call()`: same rule as `options.timeout`. */
export function validateCallTimeout(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  return positiveNumber('timeout', value, Infinity, 'call options');
}

function moduleUrl(name: string, value: unknown): string {
  if (value instanceof URL) value = value.href;
  if (typeof value !== 'string' || value === '') throw fail(`${name} must be an absolute path or a file: URL`, value);
  if (value.startsWith('file:')) {
    try {
      return new URL(value).href;
    } catch {
      throw fail(`${name} must be an absolute path or a file: URL`, value);
    }
  }
  if (!path.isAbsolute(value)) throw fail(`${name} must be an absolute path or a file: URL`, value);
  return pathToFileURL(value).href;
}

function serializer(value: unknown, alias: unknown): string {
  if (value !== undefined && alias !== undefined && value !== alias) {
    throw new ValidationError('options.serializer and options.serializerPath (its alias) disagree: set only one');
  }
  const chosen = value ?? alias ?? DEFAULTS.serializer;
  const name = value !== undefined ? 'options.serializer' : 'options.serializerPath';
  if (typeof chosen === 'string' && isBuiltinSerializer(chosen)) return chosen;
  if (typeof chosen !== 'string' || (!chosen.startsWith('file:') && !path.isAbsolute(chosen))) {
    throw fail(`${name} must be 'json', 'advanced', 'cbor', or an absolute path or file: URL of a serializer module`, chosen);
  }
  return moduleUrl(name, chosen);
}

function forkOptions(value: FarmForkOptions | undefined): FarmForkOptions {
  const given = plainObject('options.fork', value);
  for (const key of OWNED_FORK_KEYS) {
    if (key in given) throw new ValidationError(`options.fork.${key} is managed by the farm and cannot be set`);
  }
  stringArray('options.fork.execArgv', given.execArgv);
  stringArray('options.fork.args', given.args);
  const code = given.execArgv?.find((arg) => CODE_FLAG.test(arg));
  if (code !== undefined) {
    throw new ValidationError(`options.fork.execArgv must not contain ${code}: each worker would run that code instead of the worker`);
  }
  return Object.freeze({
    cwd: process.cwd(),
    env: process.env,
    execPath: process.execPath,
    execArgv: inheritableExecArgv(process.execArgv),
    silent: false,
    args: [],
    ...given,
  });
}

/** Flags that make node run code other than the worker entry (eval, print, REPL, test runner, watch). */
const CODE_FLAG = /^(-e|-p|-pe|-i|-c|--eval|--print|--interactive|--check|--test|--watch)(=|$)/;
/** Of those, the ones whose value is the next argument. */
const FLAG_WITH_VALUE = /^(-e|-p|-pe|--eval|--print|--watch-path|--input-type)$/;

/**
 * The parent's execArgv minus what must not reach a worker: debugger flags (every worker would
 * fight for the inspector port) and code flags (`node -e "createFarm(...)"` would make each
 * worker run the eval code again, and fork without end).
 */
export function inheritableExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    if (FLAG_WITH_VALUE.test(arg)) i++;
    else if (!CODE_FLAG.test(arg) && !/^--(debug|inspect|watch-|input-type=)/.test(arg)) kept.push(arg);
  }
  return kept;
}

function threadOptions(value: FarmThreadOptions | undefined): FarmThreadOptions {
  const given = plainObject('options.thread', value);
  for (const key of OWNED_THREAD_KEYS) {
    if (key in given) throw new ValidationError(`options.thread.${key} is managed by the farm and cannot be set`);
  }
  stringArray('options.thread.execArgv', given.execArgv);
  if (given.resourceLimits !== undefined) resourceLimits(given.resourceLimits);
  return Object.freeze({ ...given });
}

const RESOURCE_LIMITS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'];

/** Node would start a thread with a negative limit and watch it die of "out of memory" instead. */
function resourceLimits(value: unknown): void {
  const limits = plainObject('options.thread.resourceLimits', value as Record<string, unknown>);
  for (const [key, limit] of Object.entries(limits)) {
    if (!RESOURCE_LIMITS.includes(key)) {
      throw new ValidationError(`options.thread.resourceLimits.${key} is not a resource limit (${RESOURCE_LIMITS.join(', ')})`);
    }
    if (limit === undefined) continue;
    if (typeof limit !== 'number' || !Number.isFinite(limit) || limit <= 0) {
      throw fail(`options.thread.resourceLimits.${key} must be a positive finite number of MiB`, limit);
    }
  }
}

function plainObject<T extends object>(name: string, value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw fail(`${name} must be an object`, value);
  return value;
}

function stringArray(name: string, value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw fail(`${name} must be an array of strings`, value);
}

function positiveInteger(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw fail(`options.${key} must be a positive integer`, value);
  return value;
}

function positiveIntegerOrInfinity(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === Infinity) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw fail(`options.${key} must be a positive integer or Infinity`, value);
  }
  return value;
}

function nonNegativeInteger(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw fail(`options.${key} must be a non-negative integer`, value);
  return value;
}

function positiveNumber(key: string, value: unknown, fallback: number, owner = 'options', unit = 'milliseconds'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw fail(`${owner}.${key} must be a positive number of ${unit} or Infinity`, value);
  }
  if (unit === 'milliseconds') timerRange(`${owner}.${key}`, value);
  return value;
}

function nonNegativeFinite(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw fail(`options.${key} must be a non-negative finite number of milliseconds`, value);
  }
  timerRange(`options.${key}`, value, '');
  return value;
}

/** Node turns a longer setTimeout into 1 ms (with a warning): a huge timeout would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function timerRange(name: string, value: number, orElse = ' or Infinity'): void {
  if (value !== Infinity && value > MAX_TIMER_MS) throw fail(`${name} must be at most ${MAX_TIMER_MS} ms (about 24.8 days)${orElse}`, value);
}

function fail(message: string, value: unknown): ValidationError {
  return new ValidationError(`${message}, got ${inspect(value, { depth: 0, breakLength: Infinity })}`);
}
