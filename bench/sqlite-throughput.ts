/**
 * One step of N no-op tasks on the embedded SQLite backend, one process, measured end to end
 * from run() to the workflow's `done`.
 *
 *   node --import tsx bench/sqlite-throughput.ts [tasks=100000] [runs=3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

const tasks = Number(process.argv[2] ?? 100_000);
const runs = Number(process.argv[3] ?? 3);

const noop = new StepHandler<unknown, number, number>({
  name: 'bench-noop',
  handler: (task) => task.seq,
});

const dir = mkdtempSync(join(tmpdir(), 'deflow-bench-'));
DeFlow.register({ backend: `sqlite:${join(dir, 'bench.db')}` });
await DeFlow.getInstance().ready();
const data = Array.from({ length: tasks }, (_, i) => i);
const rates: number[] = [];
for (let run = 1; run <= runs; run++) {
  const started = performance.now();
  const result = await WorkFlow.create('bench', { cleanOnDone: true }).addStep({ step: noop, tasks: data }).run().done();
  const seconds = (performance.now() - started) / 1000;
  const rate = tasks / seconds;
  rates.push(rate);
  console.log(`run ${run}: ${tasks} tasks in ${seconds.toFixed(2)} s = ${Math.round(rate).toLocaleString('en-US')} tasks/s (${result.status})`);
}
rates.sort((a, b) => a - b);
console.log(`median: ${Math.round(rates[Math.floor(rates.length / 2)] ?? 0).toLocaleString('en-US')} tasks/s`);
await DeFlow.unregister();
rmSync(dir, { recursive: true, force: true });
