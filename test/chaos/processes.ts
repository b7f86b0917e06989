/** Forking the chaos run's worker and creator processes, and knowing how each one ended. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';

export interface Child {
  name: string;
  process: ChildProcess;
  /** Fault points armed in it (DEFLOW_TEST_FAULTS), if any. */
  faults: string | undefined;
  /** Resolves with the first IPC message of this type. */
  message(type: string, timeoutMs: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set when the run killed it on purpose. */
  killedByRun: boolean;
  /** The fault point it reported dying or stalling at, read from its stderr. */
  faultsHit: string[];
}

export function forkChild(script: string, name: string, arg: unknown, logDir: string, faults?: string): Child {
  const env: NodeJS.ProcessEnv = { ...process.env, CHAOS_NODE: name, CHAOS_LOG_DIR: logDir };
  delete env.DEFLOW_TEST_FAULTS;
  if (faults !== undefined) env.DEFLOW_TEST_FAULTS = faults;
  const child = fork(script, [JSON.stringify(arg)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env });
  const stderr = createWriteStream(join(logDir, `${name}.stderr`));
  const entry: Child = {
    name,
    process: child,
    faults,
    killedByRun: false,
    faultsHit: [],
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    message(type, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => (child.off('message', listen), reject(new Error(`${name} sent no '${type}' within ${timeoutMs} ms`))), timeoutMs);
        const listen = (message: unknown): void => {
          if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type) {
            clearTimeout(timer);
            child.off('message', listen);
            resolve(message as Record<string, unknown>);
          }
        };
        child.on('message', listen);
        void entry.exited.then(() => (clearTimeout(timer), child.off('message', listen), reject(new Error(`${name} exited before sending '${type}'`))));
      });
    },
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.write(chunk);
    for (const match of chunk.toString().matchAll(/deflow fault point (\S+): (crash|stall)/g)) entry.faultsHit.push(`${match[1]} ${match[2]}`);
  });
  child.once('exit', () => stderr.end());
  return entry;
}

export function isRunning(child: Child): boolean {
  return child.process.exitCode === null && child.process.signalCode === null;
}

export async function killHard(child: Child): Promise<void> {
  if (!isRunning(child)) return;
  child.killedByRun = true;
  child.process.kill('SIGKILL');
  await child.exited;
}
