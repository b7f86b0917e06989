/**
 * The measured scenarios, each run in a process of its own by run.ts (so one's garbage and
 * JIT state never slows the next). All on the same Redis, each under a fresh key prefix.
 */
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export interface Throughput {
  tasks: number;
  /** Milliseconds to store the work (createWorkflow / addBulk). */
  addMs: number;
  /** Milliseconds from the work being stored to the last task finished. */
  processMs: number;
  /** tasks / processMs */
  perSecond: number;
}

export interface ChainLatency {
  steps: number;
  /** Per hop: start of step k+1's task minus start of step k's task, in ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  totalMs: number;
}

function prefix(label: string): string {
  return `bench-${label}-${randomBytes(3).toString('hex')}`;
}

/** Deletes a benchmark's keys (SCAN + UNLINK under its prefix only). */
async function dropPrefix(pattern: string): Promise<void> {
  const client = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
  await client.quit();
}

const noop = new StepHandler<unknown, number, void>({ name: 'bench-noop', handler: () => undefined });

/** One step of `tasks` no-op tasks on one deflow node (this process). */
export async function deflowThroughput(tasks: number, concurrency: number): Promise<Throughput> {
  const keyPrefix = prefix('deflow');
  const deflow = DeFlow.register({ backend: REDIS_URL, prefix: keyPrefix });
  deflow.on('error', (error, during) => console.error(`deflow ${during}: ${error.message}`));
  await deflow.ready();
  try {
    const data = Array.from({ length: tasks }, (_, i) => i);
    const workflow = WorkFlow.create('bench').addStep({ step: noop, tasks: data, options: { taskConcurrency: concurrency } });
    workflow.on('error', () => undefined); // unregistering below ends the handle, on purpose
    let finishedAt = 0;
    const finished = new Promise<void>((resolve) =>
      workflow.on('step', () => {
        finishedAt = performance.now();
        resolve();
      }),
    );
    const t0 = performance.now();
    workflow.run();
    await workflow.started();
    const t1 = performance.now();
    await finished;
    const processMs = finishedAt - t1;
    return { tasks, addMs: t1 - t0, processMs, perSecond: (tasks / processMs) * 1000 };
  } finally {
    await DeFlow.unregister();
    await dropPrefix(`${keyPrefix}:*`);
  }
}

/** BullMQ with its best settings: addBulk, removeOnComplete, a tuned worker concurrency. */
export async function bullmqThroughput(tasks: number, concurrency: number): Promise<Throughput> {
  const keyPrefix = prefix('bullmq');
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection, prefix: keyPrefix });
  try {
    const t0 = performance.now();
    const chunk = 10_000;
    for (let i = 0; i < tasks; i += chunk) {
      const jobs = Array.from({ length: Math.min(chunk, tasks - i) }, (_, k) => ({
        name: 'noop',
        data: i + k,
        opts: { removeOnComplete: true, removeOnFail: true },
      }));
      await queue.addBulk(jobs);
    }
    const t1 = performance.now();
    let done = 0;
    let finishedAt = 0;
    const workerConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker('bench', async () => undefined, { connection: workerConnection, prefix: keyPrefix, concurrency });
    const t2 = performance.now();
    await new Promise<void>((resolve) => {
      worker.on('completed', () => {
        if (++done !== tasks) return;
        finishedAt = performance.now();
        resolve();
      });
    });
    // Closing is not measured, and must not hang the benchmark.
    await Promise.race([worker.close(true), new Promise((resolve) => setTimeout(resolve, 5_000))]);
    workerConnection.disconnect();
    const processMs = finishedAt - t2;
    return { tasks, addMs: t1 - t0, processMs, perSecond: (tasks / processMs) * 1000 };
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await connection.quit();
    await dropPrefix(`${keyPrefix}:*`);
  }
}

const starts: number[] = [];
const stamp = new StepHandler<unknown, number, void>({
  name: 'bench-stamp',
  handler: () => {
    starts.push(performance.now());
  },
});

/** A chain of `steps` single-task steps: time between one step's task and the next one's. */
export async function chainLatency(steps: number): Promise<ChainLatency> {
  const keyPrefix = prefix('chain');
  const deflow = DeFlow.register({ backend: REDIS_URL, prefix: keyPrefix });
  deflow.on('error', (error, during) => console.error(`deflow ${during}: ${error.message}`));
  await deflow.ready();
  try {
    starts.length = 0;
    let workflow = WorkFlow.create('chain');
    for (let i = 0; i < steps; i++) workflow = workflow.addStep({ step: stamp, tasks: [i] });
    workflow.on('error', () => undefined); // unregistering below ends the handle, on purpose
    const t0 = performance.now();
    const finished = new Promise<void>((resolve) =>
      workflow.on('step', () => {
        if (starts.length === steps) resolve();
      }),
    );
    workflow.run();
    await finished;
    const totalMs = performance.now() - t0;
    const hops = starts.slice(1).map((t, i) => t - (starts[i] ?? t));
    hops.sort((a, b) => a - b);
    const at = (q: number): number => hops[Math.min(hops.length - 1, Math.floor(q * hops.length))] ?? 0;
    return { steps, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: hops[hops.length - 1] ?? 0, totalMs };
  } finally {
    await DeFlow.unregister();
    await dropPrefix(`${keyPrefix}:*`);
  }
}
