/**
 * Signal latency on one node: N workflows, each with one step waiting for an event; the time
 * from `workflow.signal()` being called to the waiting step's first task starting.
 *
 *   node --import tsx bench/signal-latency.ts [signals=200] [backend=sqlite:<tmp>] [schema or prefix]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

const count = Number(process.argv[2] ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'deflow-signal-'));
const backend = process.argv[3] ?? `sqlite:${join(dir, 'signal.db')}`;
const isolation = process.argv[4];

const started = new Map<number, number>();
const waiting = new StepHandler<unknown, number, number>({
  name: 'bench-signalled',
  handler(task) {
    started.set(task.data, performance.now());
    return task.data;
  },
});

DeFlow.register({
  backend,
  ...(isolation === undefined ? {} : backend.startsWith('redis') ? { prefix: isolation } : { schema: isolation }),
});
await DeFlow.getInstance().ready();
const latencies: number[] = [];
for (let i = 0; i < count; i++) {
  const workflow = await WorkFlow.create('signalled', { cleanOnDone: true })
    .addStep({ step: waiting, tasks: [i], dependsOn: [], waitFor: ['go'] })
    .run()
    .started();
  const sent = performance.now();
  await workflow.signal('go');
  await workflow.done();
  latencies.push((started.get(i) ?? sent) - sent);
}
latencies.sort((a, b) => a - b);
const pct = (p: number): string => (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(3);
console.log(`${backend.split(':')[0]}: ${count} signals; signal -> first task start p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`);
await DeFlow.unregister();
rmSync(dir, { recursive: true, force: true });
