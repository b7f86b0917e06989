/**
 * Workestrator's options on top of deflow/pool's: the same names and rules, with Workestrator's
 * defaults where they differ (fork.args, numberOfWorkers, killTimeout: Infinity), paths found
 * the way require() finds them, and the paths in `serializers` mapped to the pool's serializers.
 * Everything else (validation, the other defaults) is the pool's: see src/pool/options.ts.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../pool/errors.js';
import type { FarmForkOptions, FarmOptions, ResolvedFarmOptions } from '../pool/options.js';

/** Run from source (tests), the serializer modules are .ts files; from dist, .js. */
const EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** Absolute paths of the serializers Workestrator ships, for `serializerPath`. */
export const serializers: Readonly<{ JSON: string; CBOR: string }> = Object.freeze({
  JSON: fileURLToPath(new URL(`./serializers/json${EXTENSION}`, import.meta.url)),
  CBOR: fileURLToPath(new URL(`./serializers/cbor${EXTENSION}`, import.meta.url)),
});

/**
 * Options of `create()`: Workestrator's (`module`, `fork`, `killTimeout`, `maxConcurrentCalls`,
 * `maxConcurrentCallsPerWorker`, `maxIdleTime`, `maxRetries`, `numberOfWorkers`,
 * `serializerPath`, `timeout`, `ttl`) and deflow/pool's others (`type`, `thread`,
 * `startupTimeout`, `maxMemoryMb`, `serializer`).
 */
export type WorkestratorOptions = FarmOptions;

/** The options a farm runs with (`farm.options`), Workestrator's way: paths, not URLs. */
export interface ResolvedWorkestratorOptions extends Omit<ResolvedFarmOptions, 'moduleUrl'> {
  /** Absolute path of the worker module. */
  readonly module: string;
  /** Absolute path of the serializer module, or the name of a deflow serializer ('advanced', 'cbor'). */
  readonly serializerPath: string;
}

/** Node would fire a longer timer after 1 ms; the pool takes this as its longest killTimeout. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the pool gets for Workestrator options. */
export function toFarmOptions(options: WorkestratorOptions): FarmOptions {
  if (options === null || typeof options !== 'object') return options; // the pool says what is wrong
  const serializerPath = options.serializerPath === undefined ? undefined : findFile('options.serializerPath', options.serializerPath);
  const farmOptions: FarmOptions = {
    ...options,
    module: typeof options.module === 'string' ? findFile('options.module', options.module) : options.module,
    numberOfWorkers: options.numberOfWorkers ?? defaultNumberOfWorkers(),
    // Infinity (never SIGKILL) is the longest wait the pool's timers allow: about 24.8 days.
    killTimeout: options.killTimeout === Infinity ? MAX_TIMER_MS : options.killTimeout,
  };
  if (serializerPath !== undefined) farmOptions.serializerPath = serializerPath === serializers.JSON ? 'json' : serializerPath;
  if ((options.type ?? 'process') === 'process') farmOptions.fork = forkOptions(options.fork);
  return farmOptions;
}

/** `farm.options`: the pool's resolved options, with Workestrator's names and paths. */
export function describeOptions(resolved: ResolvedFarmOptions, given: WorkestratorOptions): ResolvedWorkestratorOptions {
  const { moduleUrl, ...rest } = resolved;
  const serializer = resolved.serializer;
  return Object.freeze({
    ...rest,
    module: fileURLToPath(moduleUrl),
    killTimeout: given.killTimeout === Infinity ? Infinity : resolved.killTimeout,
    serializerPath: serializer === 'json' ? serializers.JSON : serializer.startsWith('file:') ? fileURLToPath(serializer) : serializer,
  });
}

/** Workestrator passes the parent's whole argv to each worker unless told otherwise. */
function forkOptions(fork: FarmForkOptions | undefined): FarmForkOptions | undefined {
  if (fork !== undefined && (fork === null || typeof fork !== 'object' || Array.isArray(fork))) return fork; // the pool refuses it
  return { args: process.argv, ...fork };
}

function defaultNumberOfWorkers(): number {
  // os.cpus() can be empty (some containers): the pool's own default then.
  return os.cpus().length || os.availableParallelism();
}

const requireHere = createRequire(import.meta.url);

/**
 * An absolute path names a file as require() would find it (`/app/worker` finds `/app/worker.js`,
 * a directory its index.js), so paths written for Workestrator keep working. Other values are
 * left to the pool's rules and messages.
 */
function findFile(name: string, value: string): string {
  if (!path.isAbsolute(value) || fs.statSync(value, { throwIfNoEntry: false })?.isFile() === true) return value;
  try {
    return requireHere.resolve(value);
  } catch {
    throw new ValidationError(`${name} must name an existing file (an absolute path, found as require() would), got '${value}'`);
  }
}
