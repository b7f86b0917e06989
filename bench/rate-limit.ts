/**
 * How close a rate-limited step gets to its limit: a limit of `rate` starts per second, one
 * step with enough no-op tasks for `seconds` of work, and the starts its handler records. The
 * measured rate counts the starts in the first `seconds` seconds after the first one. The limit
 * caps claim times; a handler starts a few ms after its claim, and a batch is claimed exactly
 * `per` after the one whose starts it replaces, so handler start times can put more than `max`
 * in a window of exactly 1,000 ms (lag jitter), and never in one a little shorter (950 ms).
 *
 *   node --import tsx bench/rate-limit.ts [backend=sqlite] [rate=500] [seconds=10]
 *   backend: sqlite | redis://127.0.0.1:6379 | postgres://postgres@127.0.0.1:5432/test
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

const backendArg = process.argv[2] ?? 'sqlite';
const rate = Number(process.argv[3] ?? 500);
const seconds = Number(process.argv[4] ?? 10);

const starts: number[] = [];
const call = new StepHandler<unknown, number, null>({
  name: 'bench-rate-call',
  handler() {
    starts.push(Date.now());
    return null;
  },
});

const dir = mkdtempSync(join(tmpdir(), 'deflow-bench-'));
const backend = backendArg === 'sqlite' ? `sqlite:${join(dir, 'bench.db')}` : backendArg;
DeFlow.register({ backend, prefix: backend.startsWith('redis') ? 'deflow-bench-rate' : undefined, schema: backend.startsWith('postgres') ? 'deflow_bench_rate' : undefined });
await DeFlow.getInstance().ready();
await DeFlow.setRateLimit('bench-rate', { max: rate, per: 1_000 });
// Enough for `seconds` windows and one more, so the step never runs dry inside the measured span.
const tasks = Array.from({ length: rate * (seconds + 1) }, (_, i) => i);
const began = performance.now();
await WorkFlow.create('bench-rate', { cleanOnDone: true })
  .addStep({ step: call, tasks, options: { rateLimit: 'bench-rate', taskConcurrency: Math.min(rate, 256) } })
  .run()
  .done();
const took = (performance.now() - began) / 1000;
starts.sort((a, b) => a - b);
const first = starts[0] ?? 0;
const inSpan = starts.filter((at) => at < first + seconds * 1_000).length;
function mostIn(windowMs: number): number {
  let most = 0;
  for (let lo = 0, hi = 0; hi < starts.length; hi++) {
    while ((starts[hi] as number) - (starts[lo] as number) >= windowMs) lo++;
    most = Math.max(most, hi - lo + 1);
  }
  return most;
}
const measured = inSpan / seconds;
console.log(
  `${backendArg.split(':')[0]}: limit ${rate}/s, ${tasks.length} tasks in ${took.toFixed(1)} s; ` +
    `measured ${measured.toFixed(1)}/s over ${seconds} s (${((measured / rate) * 100).toFixed(1)}% of the limit); ` +
    `handler starts in any 1,000 ms: at most ${mostIn(1_000)}, in any 950 ms: at most ${mostIn(950)}`,
);
await DeFlow.removeRateLimit('bench-rate');
await DeFlow.unregister();
rmSync(dir, { recursive: true, force: true });
