/**
 * Entry point of every pool worker, child process or worker thread. Loads the serializer and
 * the user's module, says READY (or LOAD_ERROR), then runs calls as they come. Results that
 * settle in the same tick go back as one message. Errors travel as ErrorRecords.
 */
import v8 from 'node:v8';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  BOOT_ENV,
  MSG_CALLS,
  MSG_LOAD_ERROR,
  MSG_MEMORY,
  MSG_READY,
  MSG_RESULTS,
  MSG_STOP,
  RESULT_ERROR,
  RESULT_UNDEFINED,
  RESULT_VALUE,
  type WireMessage,
  type WorkerBootConfig,
} from './protocol.js';
import { dieWithParent } from './orphan-watchdog.js';
import { toErrorRecord } from './remote-error.js';
import { loadCodec, type PayloadCodec } from './serializers.js';

type Method = { fn: (...args: unknown[]) => unknown; self: unknown };

const config = readConfig();
const send: (message: WireMessage) => void = isMainThread ? sendToFarmProcess : (message) => parentPort?.postMessage(message);

let codec: PayloadCodec;
let userModule: Record<string, unknown>;
const methods = new Map<string, Method>();
const outbox: unknown[] = [MSG_RESULTS];
let flushScheduled = false;
let memoryReported = false;

/**
 * The farm may have exited while we were loading (its 'disconnect' can even come before we
 * listen for it): nobody is left to answer, so leave quietly instead of throwing
 * ERR_IPC_CHANNEL_CLOSED. A failed write on a live channel is still a crash.
 */
function sendToFarmProcess(message: WireMessage): void {
  if (!process.connected) process.exit(0);
  process.send?.(message, undefined, undefined, (error: Error | null) => {
    if (error === null) return;
    if (!process.connected) process.exit(0);
    throw error;
  });
}

function readConfig(): WorkerBootConfig {
  if (!isMainThread) return (workerData as { config: WorkerBootConfig }).config;
  const raw = process.env[BOOT_ENV];
  if (raw === undefined) throw new Error('worker-main is started by a deflow farm, not directly');
  // The user's module should not see (nor pass on to its own children) our boot config.
  delete process.env[BOOT_ENV];
  return JSON.parse(raw) as WorkerBootConfig;
}

function onMessage(message: WireMessage): void {
  if (message[0] === MSG_CALLS) {
    for (let i = 1; i < message.length; i += 3) runCall(message[i] as number, message[i + 1] as string, message[i + 2]);
    flush();
  } else if (message[0] === MSG_STOP) {
    process.exit(0);
  }
}

function runCall(id: number, name: string, payload: unknown): void {
  let result: unknown;
  try {
    const method = methods.get(name) ?? resolveMethod(name);
    result = method.fn.apply(method.self, codec.decode(payload) as unknown[]);
  } catch (error) {
    pushError(id, error);
    return;
  }
  if (isThenable(result)) {
    result.then(
      (value) => settleLater(id, value, false),
      (error: unknown) => settleLater(id, error, true),
    );
  } else {
    pushValue(id, result);
  }
}

/**
 * `default` is the default export; any other name is a named export, or a method of the
 * default export (a StepHandler-like object or a CommonJS `module.exports` the ESM loader did
 * not split into named exports).
 */
function resolveMethod(name: string): Method {
  const direct = userModule[name];
  const fallback = userModule.default as Record<string, unknown> | null | undefined;
  const owner = name !== 'default' && fallback !== null && (typeof fallback === 'object' || typeof fallback === 'function') ? fallback : undefined;
  const candidate = owner !== undefined && !(name in Object.prototype) ? owner[name] : undefined;
  let method: Method | undefined;
  // A CommonJS `module.exports.name` is also a named export: it is still a method of module.exports.
  if (typeof direct === 'function') method = { fn: direct as Method['fn'], self: candidate === direct ? owner : undefined };
  else if (typeof candidate === 'function') method = { fn: candidate as Method['fn'], self: owner };
  if (method === undefined) {
    throw new TypeError(
      name === 'default'
        ? `worker module ${config.moduleUrl} has no default export function`
        : `worker module ${config.moduleUrl} exports no function named '${name}'`,
    );
  }
  methods.set(name, method);
  return method;
}

function pushValue(id: number, value: unknown): void {
  try {
    // JSON encodes a top-level function or symbol as nothing: the caller gets undefined.
    const payload = value === undefined || codec.omits?.(value) === true ? undefined : codec.encode(value);
    if (payload === undefined) outbox.push(id, RESULT_UNDEFINED, null);
    else outbox.push(id, RESULT_VALUE, payload);
  } catch (error) {
    pushError(id, serializationFailure(error));
  }
  checkMemory();
}

function pushError(id: number, error: unknown): void {
  outbox.push(id, RESULT_ERROR, toErrorRecord(error));
  checkMemory();
}

function settleLater(id: number, value: unknown, failed: boolean): void {
  if (failed) pushError(id, value);
  else pushValue(id, value);
  if (!flushScheduled) {
    flushScheduled = true;
    queueMicrotask(flush);
  }
}

function flush(): void {
  flushScheduled = false;
  if (outbox.length === 1) return;
  try {
    send(outbox);
  } catch {
    // Pass-through codecs serialize in the channel: find the result it refused, send the rest.
    for (let i = 1; i < outbox.length; i += 3) {
      try {
        send([MSG_RESULTS, outbox[i], outbox[i + 1], outbox[i + 2]]);
      } catch (error) {
        send([MSG_RESULTS, outbox[i], RESULT_ERROR, toErrorRecord(serializationFailure(error))]);
      }
    }
  }
  outbox.length = 1;
}

function serializationFailure(error: unknown): Error {
  const reason = error instanceof Error ? error.message : String(error);
  const failure = new TypeError(`the result could not be serialized with the '${serializerName()}' serializer: ${reason}`);
  Object.assign(failure, { code: 'ERR_POOL_SERIALIZATION' });
  return failure;
}

function serializerName(): string {
  return config.serializer.startsWith('file:') ? 'custom' : config.serializer;
}

/** Soft limit: measured after each call, so the farm can replace us between calls. */
function checkMemory(): void {
  if (config.maxMemoryBytes === null || memoryReported) return;
  // A thread shares the process RSS with its siblings, so it counts its own V8 heap instead.
  const used = config.type === 'process' ? process.memoryUsage.rss() : v8.getHeapStatistics().used_heap_size;
  if (used > config.maxMemoryBytes) {
    memoryReported = true;
    send([MSG_MEMORY, used]);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

async function start(): Promise<void> {
  if (isMainThread) {
    // The farm (our parent) is gone: nobody can use our results any more.
    process.on('disconnect', () => process.exit(0));
    if (!process.connected) process.exit(0); // it left before we listened
    dieWithParent(); // the 'disconnect' handler cannot run while a call spins
    process.on('message', (message) => onMessage(message as WireMessage));
  } else {
    parentPort?.on('message', onMessage);
  }
  let loading = config.serializer;
  try {
    codec = await loadCodec(config.serializer, config.type);
    loading = config.moduleUrl;
    userModule = (await import(config.moduleUrl)) as Record<string, unknown>;
  } catch (error) {
    send([MSG_LOAD_ERROR, toErrorRecord(error), loading]);
    return;
  }
  send([MSG_READY]);
}

void start();
