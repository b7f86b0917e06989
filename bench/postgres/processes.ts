/** Forked worker processes of the benchmark, with the jobs they report done. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface WorkerGroup {
  /** Jobs reported done by every process since the last reset. */
  done: number;
  reset(): void;
  /** Resolves when the processes reported `n` jobs done. */
  waitFor(n: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startWorkers(kind: 'deflow' | 'deflow-profiled' | 'graphile' | 'pgboss', count: number, args: object): Promise<WorkerGroup> {
  const script = fileURLToPath(new URL(`./workers/${kind}.ts`, import.meta.url));
  const children: ChildProcess[] = [];
  let waiter: { n: number; resolve: () => void } | null = null;
  const group: WorkerGroup = {
    done: 0,
    reset() {
      group.done = 0;
    },
    waitFor(n) {
      if (group.done >= n) return Promise.resolve();
      return new Promise((resolve) => {
        waiter = { n, resolve };
      });
    },
    async stop() {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
              child.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              child.disconnect();
            }),
        ),
      );
    },
  };
  const ready = Array.from({ length: count }, () => {
    const child = fork(script, [JSON.stringify(args)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    return new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${kind} worker exited with ${code} before it was ready`)));
      child.on('message', (message: { type: string; done?: number }) => {
        if (message.type === 'ready') resolve();
        if (message.type === 'progress') {
          group.done += message.done ?? 0;
          if (waiter !== null && group.done >= waiter.n) {
            const { resolve: wake } = waiter;
            waiter = null;
            wake();
          }
        }
      });
    });
  });
  await Promise.all(ready);
  return group;
}
