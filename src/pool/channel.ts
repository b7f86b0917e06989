/**
 * Starts one worker (child process or worker thread) running worker-main, and hides the
 * differences between the two behind `WorkerChannel`. TypeScript loading: see typescript.ts.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BOOT_ENV, type WireMessage, type WorkerBootConfig } from './protocol.js';
import type { ResolvedFarmOptions } from './options.js';
import { channelSerialization } from './serializers.js';
import { FROM_SOURCE, hasTsx, needsTypeScript, tsxEsmApiUrl, tsxLoaderUrl } from './typescript.js';

export interface ChannelEvents {
  message(message: WireMessage): void;
  /** Called once, whatever the cause (exit, failed spawn). */
  exit(code: number | null, signal: string | null): void;
  /** `fatal`: the worker never started or is going away (a failed spawn, a thread's uncaught error). */
  error(error: Error, fatal: boolean): void;
  disconnect(): void;
  /** Stdio closed (process); right after exit for a thread. Always the last event. */
  close(code: number | null, signal: string | null): void;
}

export interface WorkerChannel {
  readonly pid: number | undefined;
  readonly threadId: number | undefined;
  /** Throws synchronously when the message cannot be serialized. */
  send(message: WireMessage): void;
  /** Stop now: SIGTERM for a process, terminate() for a thread. */
  terminate(): void;
  /** Last resort once killTimeout has passed: SIGKILL. */
  forceKill(): void;
  /** Whether this worker keeps the parent's event loop alive. */
  setRef(ref: boolean): void;
}

const ENTRY_URL = new URL(FROM_SOURCE ? './worker-main.ts' : './worker-main.js', import.meta.url).href;

export function openChannel(options: ResolvedFarmOptions, config: WorkerBootConfig, events: ChannelEvents): WorkerChannel {
  return options.type === 'process' ? openProcess(options, config, events) : openThread(options, config, events);
}

function openProcess(options: ResolvedFarmOptions, config: WorkerBootConfig, events: ChannelEvents): WorkerChannel {
  const { args = [], execArgv = [], env, ...forkOptions } = options.fork;
  const child = fork(fileURLToPath(ENTRY_URL), args, {
    ...forkOptions,
    execArgv: needsTypeScript(options) && !hasTsx(execArgv) ? [...execArgv, '--import', tsxLoaderUrl()] : execArgv,
    env: { ...env, [BOOT_ENV]: JSON.stringify(config) },
    serialization: channelSerialization(options.serializer),
  });
  let exited = false;
  const exit = (code: number | null, signal: string | null): void => {
    if (exited) return;
    exited = true;
    events.exit(code, signal);
  };
  child.on('message', (message) => events.message(message as WireMessage));
  child.on('exit', exit);
  child.on('disconnect', () => events.disconnect());
  child.on('close', (code, signal) => {
    exit(code, signal); // a failed spawn emits 'error' and 'close' but no 'exit'
    events.close(code, signal);
  });
  // Without a pid, the spawn itself failed (bad cwd or execPath, no resources).
  child.on('error', (error) => events.error(error, child.pid === undefined));
  // silent: true pipes the worker's output to us; unread, a full pipe would block the worker.
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    get pid() {
      return child.pid;
    },
    threadId: undefined,
    send: (message) => {
      if (child.connected) child.send(message);
    },
    terminate: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
    forceKill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    setRef: (ref) => {
      if (ref) {
        child.ref();
        child.channel?.ref();
      } else {
        child.unref();
        child.channel?.unref();
      }
      // Piped stdio (silent: true, stdio: 'pipe') is a handle of its own that would keep us alive.
      for (const stream of child.stdio) {
        const handle = stream as { ref?: () => void; unref?: () => void } | null;
        if (ref) handle?.ref?.();
        else handle?.unref?.();
      }
    },
  };
}

// Eval'd source, valid both as a script and as a module: an inherited --input-type=module
// makes Node evaluate it as ESM, where `require` does not exist.
const TS_BOOTSTRAP = `
const { workerData } = process.getBuiltinModule('node:worker_threads');
import(workerData.tsxApi).then((api) => { api.register(); return import(workerData.entry); });
`;

function openThread(options: ResolvedFarmOptions, config: WorkerBootConfig, events: ChannelEvents): WorkerChannel {
  const worker = needsTypeScript(options)
    ? new Worker(TS_BOOTSTRAP, { ...options.thread, eval: true, workerData: { config, tsxApi: tsxEsmApiUrl(), entry: ENTRY_URL } })
    : new Worker(new URL(ENTRY_URL), { ...options.thread, workerData: { config } });
  worker.on('message', (message) => events.message(message as WireMessage));
  worker.on('error', (error) => events.error(error, true));
  worker.on('messageerror', (error) => events.error(error, false));
  worker.on('exit', (code) => {
    events.exit(code, null);
    events.close(code, null);
  });
  let terminating = false;
  const terminate = (): void => {
    if (terminating) return;
    terminating = true;
    worker.terminate().catch((error: unknown) => events.error(error instanceof Error ? error : new Error(String(error)), false));
  };
  return {
    pid: undefined,
    threadId: worker.threadId,
    send: (message) => worker.postMessage(message),
    terminate,
    forceKill: terminate,
    setRef: (ref) => (ref ? worker.ref() : worker.unref()),
  };
}
