/**
 * `GET /api/workflows/:id` of a workflow with many tasks, over real HTTP: the detail is read
 * from step counts, never by loading the tasks, so its time should not grow with them. Target
 * (issue 11): p99 < 50 ms on SQLite for 100k tasks. The tasks are stored, not run (no worker).
 *
 *   node --import tsx bench/server-workflow-read.ts [tasks=100000] [requests=500] [backend=sqlite:<tmp>]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';
import { createServer } from '../src/server/index.js';

const tasks = Number(process.argv[2] ?? 100_000);
const requests = Number(process.argv[3] ?? 500);
const dir = mkdtempSync(join(tmpdir(), 'deflow-read-'));
const backend = process.argv[4] ?? `sqlite:${join(dir, 'read.db')}`;
const TOKEN = 'bench-token-0123456789abcdef';

const noop = new StepHandler<unknown, number, number>({ name: 'bench-read-noop', handler: (task) => task.data });

await DeFlow.register({ backend, worker: false }).ready();
const made = performance.now();
const workflow = await WorkFlow.create('read-bench')
  .addStep({ name: 'many', step: noop, tasks: Array.from({ length: tasks }, (_, i) => i) })
  .addStep({ name: 'after', step: noop, tasks: [0] })
  .run()
  .started();
const madeMs = performance.now() - made;
const app = await createServer({ tokens: [TOKEN] });
const base = await app.listen({ host: '127.0.0.1', port: 0 });
const url = `${base}/api/workflows/${encodeURIComponent(workflow.id)}`;
const headers = { authorization: `Bearer ${TOKEN}` };

const check = (await (await fetch(url, { headers })).json()) as { steps: { counts: { total: number } }[] };
if (check.steps[0]?.counts.total !== tasks) throw new Error(`expected ${tasks} tasks in the detail, got ${JSON.stringify(check.steps[0]?.counts)}`);
for (let i = 0; i < 20; i++) await (await fetch(url, { headers })).arrayBuffer(); // warm up
const times: number[] = [];
for (let i = 0; i < requests; i++) {
  const start = performance.now();
  const response = await fetch(url, { headers });
  await response.arrayBuffer();
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const pct = (p: number): string => (times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0).toFixed(2);
console.log(
  `${backend.split(':')[0]}: GET /api/workflows/:id of a ${tasks}-task workflow (stored in ${(madeMs / 1000).toFixed(1)} s), ${requests} requests: ` +
    `p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms (target p99 < 50 ms on SQLite)`,
);
await app.close();
await DeFlow.unregister();
rmSync(dir, { recursive: true, force: true });
