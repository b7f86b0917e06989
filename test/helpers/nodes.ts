/** Real deflow node processes for multi-process and crash tests. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const NODE_SCRIPT = fileURLToPath(new URL('../fixtures/node-process.ts', import.meta.url));

export interface NodeMessage {
  type: string;
  [key: string]: unknown;
}

export interface NodeProcess {
  child: ChildProcess;
  pid: number;
  messages: NodeMessage[];
  /** Resolves with the first message (past or future) that matches. */
  waitFor(predicate: (message: NodeMessage) => boolean, timeoutMs?: number): Promise<NodeMessage>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Settles when the process is gone, with the signal that ended it (null for an exit). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it wrote to stderr so far (also passed on to this process's stderr). */
  stderr(): string;
}

export interface NodeProcessOptions {
  /** Faults to arm in the child (DEFLOW_TEST_FAULTS syntax, see src/fault-points.ts). */
  faults?: string;
}

const started = new Set<NodeProcess>();

export async function startNode(registerOptions: Record<string, unknown>, options: NodeProcessOptions = {}): Promise<NodeProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DEFLOW_TEST_FAULTS;
  if (options.faults !== undefined) env.DEFLOW_TEST_FAULTS = options.faults;
  const child = fork(NODE_SCRIPT, [JSON.stringify(registerOptions)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    process.stderr.write(chunk);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const messages: NodeMessage[] = [];
  const waiters = new Set<{ predicate: (m: NodeMessage) => boolean; resolve: (m: NodeMessage) => void }>();
  child.on('message', (message: NodeMessage) => {
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(message)) {
        waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
  });
  const node: NodeProcess = {
    child,
    pid: child.pid ?? -1,
    messages,
    exited,
    stderr: () => stderr,
    waitFor(predicate, timeoutMs = 30_000) {
      const past = messages.find(predicate);
      if (past !== undefined) return Promise.resolve(past);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve: (m: NodeMessage) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`node ${child.pid} sent no matching message within ${timeoutMs} ms; got ${JSON.stringify(messages.slice(-5))}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill(signal);
      });
    },
  };
  started.add(node);
  child.once('exit', () => started.delete(node));
  await node.waitFor((m) => m.type === 'ready', 30_000);
  return node;
}

export async function stopAllNodes(): Promise<void> {
  await Promise.all([...started].map((node) => node.kill('SIGKILL')));
}
