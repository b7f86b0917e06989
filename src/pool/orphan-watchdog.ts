/**
 * Makes a child-process worker die with its farm. A worker waiting for messages notices the
 * closed IPC channel ('disconnect') and exits, but one busy in a synchronous loop never runs
 * that handler, and Node has no prctl(PR_SET_PDEATHSIG). So a tiny thread, which the loop
 * cannot block, polls the parent pid: once the farm process is gone the worker is re-parented
 * (its ppid changes), and the thread SIGKILLs its own process.
 */
import { Worker } from 'node:worker_threads';

const POLL_MS = 500;

// Eval'd source, valid both as a script and as a module (an inherited --input-type=module).
const WATCHDOG = `
const { workerData } = process.getBuiltinModule('node:worker_threads');
setInterval(() => {
  if (process.ppid !== workerData.ppid) process.kill(process.pid, 'SIGKILL');
}, workerData.pollMs);
`;

/** Starts the watchdog thread of this worker process; it never keeps the process alive. */
export function dieWithParent(): void {
  // No execArgv: the watchdog needs none of the worker's loaders (tsx) or flags.
  const watchdog = new Worker(WATCHDOG, { eval: true, execArgv: [], workerData: { ppid: process.ppid, pollMs: POLL_MS } });
  watchdog.unref();
  // Should the thread ever fail, the worker still runs (the IPC 'disconnect' remains a guard).
  watchdog.on('error', () => {});
}
