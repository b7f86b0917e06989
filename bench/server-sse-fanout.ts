/**
 * SSE fan-out: a workflow of many quick tasks run twice on one node, once with no stream
 * client and once with `clients` clients following it on `GET /api/stream?workflow=<id>`;
 * prints both throughputs and their ratio. Target (issue 11): with 50 clients, within 10% of
 * none (ratio >= 0.9). The order alternates over `rounds` so load drifting on the machine
 * weighs on both.
 *
 *   node --import tsx bench/server-sse-fanout.ts [tasks=100000] [clients=50] [rounds=1] [backend=sqlite:<tmp>]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';
import { createServer } from '../src/server/index.js';

const tasks = Number(process.argv[2] ?? 100_000);
const clients = Number(process.argv[3] ?? 50);
const rounds = Number(process.argv[4] ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'deflow-fanout-'));
const backend = process.argv[5] ?? `sqlite:${join(dir, 'fanout.db')}`;
const TOKEN = 'bench-token-0123456789abcdef';

const quick = new StepHandler<unknown, number, number>({ name: 'bench-fanout-quick', handler: (task) => task.data });

await DeFlow.register({ backend }).ready();
const app = await createServer({ tokens: [TOKEN] });
const base = await app.listen({ host: '127.0.0.1', port: 0 });

/** Opens a stream on the workflow and counts the events it reads until aborted. */
function listen(workflowId: string, signal: AbortSignal, counter: { events: number }): Promise<void> {
  return (async () => {
    const response = await fetch(`${base}/api/stream?workflow=${encodeURIComponent(workflowId)}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal });
    if (response.body === null) return;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      counter.events += decoder.decode(value, { stream: true }).split('\n\n').length - 1;
    }
  })().catch(() => undefined);
}

async function runOnce(withClients: number, count = tasks): Promise<{ perSecond: number; events: number }> {
  const workflow = WorkFlow.create('fanout-bench', { cleanOnDone: true }).addStep({ step: quick, tasks: Array.from({ length: count }, (_, i) => i), options: { taskConcurrency: 64 } });
  const abort = new AbortController();
  const counter = { events: 0 };
  // The id is known before the run: the clients are connected and following before it starts.
  const streams = Array.from({ length: withClients }, () => listen(workflow.id, abort.signal, counter));
  await new Promise((resolve) => setTimeout(resolve, withClients === 0 ? 0 : 500));
  const start = performance.now();
  await workflow.run().done();
  const seconds = (performance.now() - start) / 1000;
  abort.abort();
  await Promise.all(streams);
  return { perSecond: count / seconds, events: counter.events };
}

await runOnce(0, Math.min(tasks, 5_000)); // warm-up (JIT, SQLite pages): not counted
const none: number[] = [];
const some: number[] = [];
let events = 0;
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? [0, clients] : [clients, 0];
  for (const n of order) {
    const result = await runOnce(n);
    (n === 0 ? none : some).push(result.perSecond);
    if (n > 0) events += result.events;
  }
}
const mean = (values: number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;
console.log(
  `${backend.split(':')[0]}: ${tasks} tasks x ${rounds} round(s): no clients ${mean(none).toFixed(0)} tasks/s, ` +
    `${clients} SSE clients ${mean(some).toFixed(0)} tasks/s (${events} events read); ratio ${(mean(some) / mean(none)).toFixed(3)} (target >= 0.9)`,
);
await app.close();
await DeFlow.unregister();
rmSync(dir, { recursive: true, force: true });
