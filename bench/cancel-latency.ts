/**
 * Cancel latency: a workflow of `tasks` tasks runs with several lanes busy (`lanes` attempts at
 * once, each a handler that works `workMs` unless its `task.signal` aborts); it is cancelled once
 * it has run a while, and the time from the cancel call until no attempt is in flight (every
 * handler that started has returned) is measured, `reps` times. `from`: `local` calls
 * `workflow.cancel()` in the node's own process; `remote` calls `DeFlow.cancel(id)` from another
 * process (registered with `worker: false`), so the node learns of it from the backend's event
 * as a node on another machine would (both clocks are this machine's). Handlers count starts and
 * ends themselves, so an attempt that starts after the cancel shows (it should be none).
 *
 *   node --import tsx bench/cancel-latency.ts [backend=sqlite] [reps=5] [tasks=100000] [lanes=32] [workMs=200] [from=remote]
 *   backend: sqlite | redis://127.0.0.1:6379 | postgres://postgres@127.0.0.1:5432/test
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

// The remote canceller: `--cancel <backend> <prefix|schema> <workflow id>`; prints the wall
// time at which it calls cancel.
if (process.argv[2] === '--cancel') {
  const [, , , url = '', isolation = '', id = ''] = process.argv;
  DeFlow.register({ backend: url, worker: false, ...(url.startsWith('redis') ? { prefix: isolation } : url.startsWith('postgres') ? { schema: isolation } : {}) });
  await DeFlow.getInstance().ready();
  const at = performance.timeOrigin + performance.now();
  await DeFlow.cancel(id, 'bench');
  console.log(String(at));
  await DeFlow.unregister();
  process.exit(0);
}

const backendArg = process.argv[2] ?? 'sqlite';
const reps = Number(process.argv[3] ?? 5);
const taskCount = Number(process.argv[4] ?? 100_000);
const lanes = Number(process.argv[5] ?? 32);
const workMs = Number(process.argv[6] ?? 200);
const from = process.argv[7] ?? 'remote';
const wallNow = (): number => performance.timeOrigin + performance.now();

let inFlight = 0;
let started = 0;
let startedAfterCancel = 0;
let cancelReturned = false;
let onIdle: (() => void) | null = null;
let idleAt = 0;
const work = new StepHandler<unknown, number, null>({
  name: 'bench-cancel-work',
  async handler(task) {
    inFlight++;
    started++;
    if (cancelReturned) startedAfterCancel++;
    try {
      await sleep(workMs, undefined, { signal: task.signal });
    } catch {
      // aborted by the cancel: return at once
    } finally {
      inFlight--;
      if (inFlight === 0) {
        idleAt = wallNow();
        onIdle?.();
      }
    }
    return null;
  },
});

const dir = mkdtempSync(join(tmpdir(), 'deflow-bench-cancel-'));
const backend = backendArg === 'sqlite' ? `sqlite:${join(dir, 'bench.db')}` : backendArg;
// Fixed names, as the other benches use: a rerun reuses them.
const isolation = backend.startsWith('redis') ? 'deflow-bench-cancel' : 'deflow_bench_cancel';
DeFlow.register({
  backend,
  prefix: backend.startsWith('redis') ? isolation : undefined,
  schema: backend.startsWith('postgres') ? isolation : undefined,
});

/** Cancels from another process; resolves with the wall time it called cancel at. */
function cancelRemotely(id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', process.argv[1] ?? '', '--cancel', backend, isolation, id], (error, stdout) => {
      if (error !== null) reject(new Error('the cancelling process failed', { cause: error }));
      else resolve(Number(stdout.trim().split('\n').at(-1)));
    });
  });
}
await DeFlow.getInstance().ready();

const latencies: number[] = [];
for (let rep = 0; rep < reps; rep++) {
  started = 0;
  startedAfterCancel = 0;
  cancelReturned = false;
  const tasks = Array.from({ length: taskCount }, (_, i) => i);
  const workflow = await WorkFlow.create('bench-cancel', { cleanOnDone: true })
    .addStep({ step: work, tasks, options: { taskConcurrency: lanes } })
    .run()
    .started();
  // Let it run: every lane busy for a while.
  while (started < lanes * 3) await sleep(10);
  const idle = new Promise<void>((resolve) => {
    onIdle = resolve;
  });
  let latency: number;
  if (from === 'local') {
    const sent = wallNow();
    await workflow.cancel('bench');
    cancelReturned = true;
    if (inFlight > 0) await idle;
    latency = wallNow() - sent;
  } else {
    // The canceller starts (a second or two) while the lanes stay busy; the last moment no
    // attempt was in flight after its cancel call is when the cancel took effect here.
    const sent = await cancelRemotely(workflow.id);
    cancelReturned = true;
    if (inFlight > 0) await idle;
    latency = idleAt - sent;
  }
  onIdle = null;
  latencies.push(latency);
  await workflow.done().catch(() => undefined);
  await workflow.clean();
  console.log(`  rep ${rep + 1}: ${latency.toFixed(1)} ms until no attempt in flight (${started} attempts started, ${startedAfterCancel} after cancel returned)`);
  await sleep(200); // nothing should start now
  if (inFlight !== 0) console.log(`  rep ${rep + 1}: ${inFlight} attempts in flight 200 ms later`);
}
latencies.sort((a, b) => a - b);
const pick = (q: number): number => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)] ?? NaN;
console.log(
  `${backendArg.split(':')[0]}: cancel of a ${taskCount}-task workflow, ${lanes} lanes busy, ${reps} reps: ` +
    `p50 ${pick(0.5).toFixed(1)} ms, p99 ${pick(0.99).toFixed(1)} ms, max ${(latencies.at(-1) ?? NaN).toFixed(1)} ms`,
);
await DeFlow.unregister();
rmSync(dir, { recursive: true, force: true });
