/**
 * Cost of one Redis queueCounts call (the deflow_queue_jobs gauge, read at each scrape): it walks
 * the oldest 1,000 unfinished workflows, one read-only script each. Stores `workflows` workflows
 * of one step of `tasks` tasks (nothing runs them), then times queueCounts; removes its keys.
 *
 *   node --import tsx bench/queue-counts.ts [backend=redis://127.0.0.1:6379] [workflows=1000] [tasks=10]
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

const backend = process.argv[2] ?? 'redis://127.0.0.1:6379';
const workflows = Number(process.argv[3] ?? 1_000);
const tasks = Number(process.argv[4] ?? 10);
const prefix = `bench-qc-${randomBytes(4).toString('hex')}`;

const idle = new StepHandler<unknown, number, number>({ name: 'bench-queue-counts', handler: (task) => task.data });

DeFlow.register({ backend, prefix, worker: false });
const deflow = await DeFlow.getInstance().ready();
const { backend: store } = await deflow.services();
for (let w = 0; w < workflows; w++) {
  const options = w % 2 === 0 ? {} : { queue: 'billing' };
  await WorkFlow.create('queue-counts-bench').addStep({ step: idle, tasks: Array.from({ length: tasks }, (_, i) => i), options }).run().started();
}
const times: number[] = [];
let counts: unknown = null;
for (let i = 0; i < 7; i++) {
  const start = performance.now();
  counts = await store.queueCounts?.();
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ workflows, tasks, counts, medianMs: Math.round(times[3] ?? 0), maxMs: Math.round(times[6] ?? 0) }));
await DeFlow.unregister();
const client = new Redis(backend);
for (let cursor = '0'; ; ) {
  const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
  if (keys.length > 0) await client.unlink(...keys);
  cursor = next;
  if (cursor === '0') break;
}
client.disconnect();
