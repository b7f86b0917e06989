/**
 * A node that missed the `workflow` event of a cancel (its event connection was down) still
 * stops that workflow's attempts: when its events resume (a `resync`), or when the store refuses
 * a result of that workflow, it reads the workflow and aborts what it still runs of it. A real
 * SQLite store; the node's subscription drops `workflow` events, as a broken connection would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { views } from '../../src/api/views.js';
import type { Backend, BackendEvent, EventListener } from '../../src/backends/backend.js';
import { cancelledRecord } from '../../src/backends/failures.js';
import { SqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js';
import { WorkerNode } from '../../src/engine/node.js';
import { StepHandler } from '../../src/index.js';
import { oneStepWorkflow } from './harness.js';

/** What the handler saw; task 2 returns when released. */
const seen = { started: new Set<number>(), aborted: new Set<number>() };
let releaseTwo: () => void = () => undefined;

new StepHandler<unknown, number, number>({
  name: 'missed-cancel',
  handler(task) {
    seen.started.add(task.data);
    if (task.data === 2) return new Promise<number>((resolve) => (releaseTwo = () => resolve(2)));
    return new Promise<number>((_resolve, reject) => {
      task.signal.addEventListener('abort', () => {
        seen.aborted.add(task.data);
        reject(task.signal.reason as Error);
      });
    });
  },
});

/** The store, with a subscription that never hears `workflow` events; `resync` says the gap is over. */
function deaf(store: Backend): { backend: Backend; resync: () => void } {
  const listeners = new Set<EventListener>();
  const backend = new Proxy(store, {
    get(target, property) {
      if (property === 'subscribe') {
        return (listener: EventListener) => {
          listeners.add(listener);
          const off = target.subscribe((event: BackendEvent) => {
            if (event.type !== 'workflow') listener(event);
          });
          return () => {
            listeners.delete(listener);
            off();
          };
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { backend, resync: () => listeners.forEach((listener) => listener({ type: 'resync' })) };
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  seen.started.clear();
  seen.aborted.clear();
});

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function deafNode(tasks: number): Promise<{ store: SqliteBackend; workflowId: string; resync: () => void }> {
  const store = new SqliteBackend({ path: ':memory:' });
  await store.open();
  const step = await oneStepWorkflow(store, { tasks, options: { taskConcurrency: 2 }, handlerKey: 'missed-cancel' });
  const { backend, resync } = deaf(store);
  const node = new WorkerNode(
    backend,
    views,
    { worker: true, leaseMs: 30_000, checkProcessQueueInterval: 60_000, maxBatch: 10, flushDelayMs: 5, discoverIntervalMs: 1_000, drainTimeoutMs: 500, poolSize: 1 },
    () => undefined,
  );
  stops.push(async () => {
    await node.stop();
    await store.close();
  });
  await node.start();
  await until(() => seen.started.size === tasks);
  return { store, workflowId: step.workflowId, resync };
}

describe('a node that missed a cancel', () => {
  it('aborts the attempts of the cancelled workflow when its events resume', async () => {
    const { store, workflowId, resync } = await deafNode(1);
    await store.controlWorkflow({ workflowId, action: 'cancel', errorJson: JSON.stringify(cancelledRecord(workflowId)) });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen.aborted.size).toBe(0); // it did not hear of it
    resync();
    await until(() => seen.aborted.has(1));
  });

  it('aborts them once the store refuses one of their results', async () => {
    const { store, workflowId } = await deafNode(2);
    await store.controlWorkflow({ workflowId, action: 'cancel', errorJson: JSON.stringify(cancelledRecord(workflowId)) });
    releaseTwo(); // its result is refused: the first news of the cancel
    await until(() => seen.aborted.has(1));
  });
});
