/** Forked processes for the Redis multi-process tests, killed after each test. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CREATOR = fileURLToPath(new URL('./fixtures/creator.ts', import.meta.url));
const children = new Set<ChildProcess>();

export interface Message {
  type: string;
  [key: string]: unknown;
}

/** Forks the creator fixture; resolves with the child and the id of the workflow it created. */
export function startCreator(options: Record<string, unknown>, tasks: unknown[]): Promise<{ child: ChildProcess; workflowId: string }> {
  const child = fork(CREATOR, [JSON.stringify(options), JSON.stringify(tasks)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the creator process sent nothing within 30 s')), 30_000);
    child.on('message', (message: Message) => {
      if (message.type === 'created') {
        clearTimeout(timer);
        resolve({ child, workflowId: String(message.id) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the creator process exited early (code ${code})`));
    });
  });
}

export function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map(killChild));
}
