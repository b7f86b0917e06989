/**
 * Many tasks delayed to the same instant: how late after it do they start? Every task records
 * when its handler began (this host's clock, the same as a local backend's); lateness = that
 * minus the instant.
 *
 *   node --import tsx bench/timers.ts [backend=redis://127.0.0.1:6379] [tasks=10000] [workflows=1] [taskConcurrency=64]
 *
 * workflows=1: one step of `tasks` tasks with that startAt (one timer); workflows=N: N
 * workflows of tasks/N tasks each, every one a timer due at the same instant.
 * BENCH_NO_TIMER=1: the same work without a timer, counted from when it was all stored (the baseline).
 */
import { randomBytes } from 'node:crypto';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';


const backend = process.argv[2] ?? 'redis://127.0.0.1:6379';
const tasks = Number(process.argv[3] ?? 10_000);
const workflows = Number(process.argv[4] ?? 1);
const perWorkflow = Math.ceil(tasks / workflows);

const started: number[] = [];
const due = new StepHandler<unknown, number, number>({
  name: 'bench-due',
  options: { taskConcurrency: Number(process.argv[5] ?? 64) },
  handler(task) {
    started.push(Date.now());
    return task.data;
  },
});

DeFlow.register({ backend, prefix: `bench-timers-${randomBytes(4).toString('hex')}`, maxBatch: 1000 });
const deflow = await DeFlow.getInstance().ready();
const { backend: store } = await deflow.services();
// Far enough ahead for every workflow to be stored before the instant.
const noTimer = process.env.BENCH_NO_TIMER === '1';
let at = (await store.now()) + 3_000 + workflows * 10;
const handles: WorkFlow[] = [];
for (let w = 0; w < workflows; w++) {
  const data = Array.from({ length: perWorkflow }, (_, i) => w * perWorkflow + i);
  handles.push(WorkFlow.create('timers-bench', { cleanOnDone: true }).addStep({ step: due, tasks: data, ...(noTimer ? {} : { startAt: at }) }).run());
}
await Promise.all(handles.map((handle) => handle.started()));
const storedBy = (await store.now()) - at;
if (noTimer) at = await store.now();
await Promise.all(handles.map((handle) => handle.done()));
const late = started.map((time) => time - at).sort((a, b) => a - b);
const pct = (p: number): number => late[Math.min(late.length - 1, Math.floor(p * late.length))] ?? NaN;
console.log(
  `${backend.split(':')[0]}: ${late.length} tasks in ${workflows} workflow(s) due at one instant ` +
    `(stored ${storedBy < 0 ? `${-storedBy} ms before it` : `${storedBy} ms AFTER it`}); ` +
    `started after it: first ${pct(0)} ms, p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, last ${pct(1)} ms; ` +
    `${late.filter((ms) => ms <= 1_000).length} within 1 s`,
);
await DeFlow.unregister();
