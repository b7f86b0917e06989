// Every farm option: its default, and the exact message for each way of getting it wrong.
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { createFarm, ValidationError, type FarmOptions } from '../../src/pool/index.js';
import { inheritableExecArgv, resolveOptions } from '../../src/pool/options.js';
import { fixture } from './helpers.js';

const module = fixture('basic.ts');

function messageFor(options: Record<string, unknown>): string {
  try {
    resolveOptions({ module, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('ERR_VALIDATION');
    return (error as Error).message;
  }
  throw new Error('expected a validation error');
}

describe('defaults', () => {
  test('are the documented ones', () => {
    const options = resolveOptions({ module });
    expect(options).toMatchObject({
      moduleUrl: pathToFileURL(module).href,
      type: 'process',
      numberOfWorkers: os.availableParallelism(),
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
    });
    expect(options.fork).toMatchObject({ cwd: process.cwd(), execPath: process.execPath, silent: false, args: [] });
    expect(Object.isFrozen(options)).toBe(true);
  });

  test('the fork execArgv drops debugger flags', () => {
    const saved = process.execArgv;
    Object.defineProperty(process, 'execArgv', { value: ['--inspect=9229', '--enable-source-maps', '--debug-port=1'], configurable: true });
    try {
      expect(resolveOptions({ module }).fork.execArgv).toEqual(['--enable-source-maps']);
    } finally {
      Object.defineProperty(process, 'execArgv', { value: saved, configurable: true });
    }
  });

  test('the inherited execArgv drops flags that would make workers run other code', () => {
    expect(inheritableExecArgv(['--import', 'tsx', '-e', 'createFarm()', '--conditions', 'dev'])).toEqual(['--import', 'tsx', '--conditions', 'dev']);
    expect(inheritableExecArgv(['--eval=x', '-p', 'y', '-pe', 'z', '--print', 'w', '--input-type=module', '--test', '--watch', '--watch-path', 'src'])).toEqual([]);
    expect(inheritableExecArgv(['--input-type', 'module', '-i', '--max-old-space-size=64'])).toEqual(['--max-old-space-size=64']);
  });

  test('module accepts an absolute path, a file: URL string or a URL object', () => {
    const href = pathToFileURL(module).href;
    expect(resolveOptions({ module: href }).moduleUrl).toBe(href);
    expect(resolveOptions({ module: new URL(href) }).moduleUrl).toBe(href);
  });

  test('serializerPath is an alias of serializer', () => {
    const custom = fixture('serializer.ts');
    expect(resolveOptions({ module, serializerPath: custom }).serializer).toBe(pathToFileURL(custom).href);
    expect(resolveOptions({ module, serializer: 'cbor' }).serializer).toBe('cbor');
    expect(resolveOptions({ module, serializer: 'cbor', serializerPath: 'cbor' }).serializer).toBe('cbor');
  });
});

describe('validation messages', () => {
  test.each([
    [{ module: undefined }, 'options.module must be an absolute path or a file: URL, got undefined'],
    [{ module: 'relative/worker.js' }, "options.module must be an absolute path or a file: URL, got 'relative/worker.js'"],
    [{ module: 42 }, 'options.module must be an absolute path or a file: URL, got 42'],
    [{ type: 'fiber' }, "options.type must be 'process' or 'thread', got 'fiber'"],
    [{ numberOfWorkers: 0 }, 'options.numberOfWorkers must be a positive integer, got 0'],
    [{ numberOfWorkers: 1.5 }, 'options.numberOfWorkers must be a positive integer, got 1.5'],
    [{ maxConcurrentCallsPerWorker: -1 }, 'options.maxConcurrentCallsPerWorker must be a positive integer, got -1'],
    [{ maxConcurrentCallsPerWorker: Infinity }, 'options.maxConcurrentCallsPerWorker must be a positive integer, got Infinity'],
    [{ maxConcurrentCalls: 0 }, 'options.maxConcurrentCalls must be a positive integer or Infinity, got 0'],
    [{ maxConcurrentCalls: '10' }, "options.maxConcurrentCalls must be a positive integer or Infinity, got '10'"],
    [{ maxRetries: -1 }, 'options.maxRetries must be a non-negative integer, got -1'],
    [{ maxRetries: Infinity }, 'options.maxRetries must be a non-negative integer, got Infinity'],
    [{ timeout: 0 }, 'options.timeout must be a positive number of milliseconds or Infinity, got 0'],
    [{ timeout: NaN }, 'options.timeout must be a positive number of milliseconds or Infinity, got NaN'],
    [{ timeout: 2 ** 31 }, 'options.timeout must be at most 2147483647 ms (about 24.8 days) or Infinity, got 2147483648'],
    [{ maxIdleTime: 3e9 }, 'options.maxIdleTime must be at most 2147483647 ms (about 24.8 days) or Infinity, got 3000000000'],
    [{ killTimeout: 2 ** 32 }, 'options.killTimeout must be at most 2147483647 ms (about 24.8 days), got 4294967296'],
    [{ ttl: 0 }, 'options.ttl must be a positive integer or Infinity, got 0'],
    [{ maxIdleTime: -5 }, 'options.maxIdleTime must be a positive number of milliseconds or Infinity, got -5'],
    [{ killTimeout: -1 }, 'options.killTimeout must be a non-negative finite number of milliseconds, got -1'],
    [{ killTimeout: Infinity }, 'options.killTimeout must be a non-negative finite number of milliseconds, got Infinity'],
    [{ startupTimeout: 0 }, 'options.startupTimeout must be a positive number of milliseconds or Infinity, got 0'],
    [{ startupTimeout: '5s' }, "options.startupTimeout must be a positive number of milliseconds or Infinity, got '5s'"],
    [{ startupTimeout: 2 ** 31 }, 'options.startupTimeout must be at most 2147483647 ms (about 24.8 days) or Infinity, got 2147483648'],
    [{ maxMemoryMb: 0 }, 'options.maxMemoryMb must be a positive number of MiB or Infinity, got 0'],
    [
      { serializer: 'yaml' },
      "options.serializer must be 'json', 'advanced', 'cbor', or an absolute path or file: URL of a serializer module, got 'yaml'",
    ],
    [
      { serializerPath: 'serializer.js' },
      "options.serializerPath must be 'json', 'advanced', 'cbor', or an absolute path or file: URL of a serializer module, got 'serializer.js'",
    ],
    [{ serializer: 'json', serializerPath: 'cbor' }, 'options.serializer and options.serializerPath (its alias) disagree: set only one'],
    [{ maxRetry: 3 }, 'options.maxRetry is not a farm option'],
    [{ fork: { cwd: '/' }, type: 'thread' }, "options.fork applies to type 'process' only"],
    [{ thread: {} }, "options.thread applies to type 'thread' only"],
    [{ fork: 'yes' }, "options.fork must be an object, got 'yes'"],
    [{ fork: { serialization: 'json' } }, 'options.fork.serialization is managed by the farm and cannot be set'],
    [{ fork: { execArgv: ['-e', 'run()'] } }, 'options.fork.execArgv must not contain -e: each worker would run that code instead of the worker'],
    [{ fork: { execArgv: '--inspect' } }, "options.fork.execArgv must be an array of strings, got '--inspect'"],
    [{ fork: { args: [1] } }, 'options.fork.args must be an array of strings, got [ 1 ]'],
    [{ type: 'thread', thread: { workerData: 1 } }, 'options.thread.workerData is managed by the farm and cannot be set'],
    [{ type: 'thread', thread: { execArgv: [false] } }, 'options.thread.execArgv must be an array of strings, got [ false ]'],
    [{ type: 'thread', thread: { resourceLimits: 64 } }, 'options.thread.resourceLimits must be an object, got 64'],
    [
      { type: 'thread', thread: { resourceLimits: { maxOldGenerationSizeMb: -5 } } },
      'options.thread.resourceLimits.maxOldGenerationSizeMb must be a positive finite number of MiB, got -5',
    ],
    [
      { type: 'thread', thread: { resourceLimits: { stackSizeMb: 'x' } } },
      "options.thread.resourceLimits.stackSizeMb must be a positive finite number of MiB, got 'x'",
    ],
    [
      { type: 'thread', thread: { resourceLimits: { maxOldGenerationSize: 64 } } },
      'options.thread.resourceLimits.maxOldGenerationSize is not a resource limit (maxOldGenerationSizeMb, maxYoungGenerationSizeMb, codeRangeSizeMb, stackSizeMb)',
    ],
  ])('%o', (options, expected) => {
    expect(messageFor(options)).toBe(expected);
  });

  test('options must be an object', () => {
    expect(() => createFarm(null as unknown as FarmOptions)).toThrow('options must be an object, got null');
  });

  test('createFarm throws before starting anything', () => {
    expect(() => createFarm({ module, numberOfWorkers: -1 })).toThrow(ValidationError);
  });
});
