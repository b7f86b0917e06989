/**
 * One step of a million no-op tasks, added from `beforeAll` in batches of 10,000, run by this
 * process alone: does a node stay in bounded memory while it runs, finishes and reads the
 * results back (by `iterateResults`)? RSS is sampled every 100 ms; the exit code is 1 when its
 * peak passes the limit.
 *
 *   node --import tsx bench/million-tasks.ts --backend sqlite|redis|postgres [--tasks 1000000] [--limit-mb 250]
 *     [--result-tasks Infinity: done() loads every task, as before] (node --expose-gc: heap after a GC)
 *
 * REDIS_URL and DATABASE_URL select the servers (defaults: loopback); each run works under a
 * fresh Redis prefix / PostgreSQL schema / SQLite file, and removes it at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'sqlite' },
    tasks: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '10000' },
    'limit-mb': { type: 'string', default: '250' },
    // Infinity: done() loads every task into the result, as before results of big steps.
    'result-tasks': { type: 'string', default: '10000' },
  },
});
const kind = values.backend;
const tasks = Number(values.tasks);
const batch = Number(values.batch);
const limitMb = Number(values['limit-mb']);
const resultTasks = Number(values['result-tasks']);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024);
let peak = 0;
let phasePeak = 0;
const sample = (): void => {
  const rss = process.memoryUsage().rss;
  if (rss > peak) peak = rss;
  if (rss > phasePeak) phasePeak = rss;
};
const sampler = setInterval(sample, 100);

const marks: string[] = [];
let phaseStart = performance.now();
function mark(phase: string): void {
  sample();
  const seconds = (performance.now() - phaseStart) / 1000;
  // With --expose-gc: the heap that survives a collection, i.e. what the node still holds.
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, external } = process.memoryUsage();
  marks.push(`${phase}: ${seconds.toFixed(1)} s, peak RSS ${mb(phasePeak)} MB (now: heap ${mb(heapUsed)} MB, external ${mb(external)} MB)`);
  console.log(marks.at(-1));
  phaseStart = performance.now();
  phasePeak = 0;
}

const fanOut = new StepHandler<unknown, number, void>({
  name: 'bench-million',
  async beforeAll(step) {
    for (let from = 0; from < tasks; from += batch) {
      const n = Math.min(batch, tasks - from);
      await step.addTasks(Array.from({ length: n }, (_, i) => from + i));
    }
  },
  handler: () => undefined,
});

const id = randomBytes(3).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'deflow-million-'));
const setups: Record<string, { options: Parameters<typeof DeFlow.register>[0]; drop: () => Promise<void> }> = {
  sqlite: { options: { backend: `sqlite:${join(dir, 'million.db')}` }, drop: () => Promise.resolve() },
  redis: { options: { backend: REDIS_URL, prefix: `bench-million-${id}` }, drop: () => dropPrefix(`bench-million-${id}:*`) },
  postgres: { options: { backend: DATABASE_URL, schema: `bench_million_${id}` }, drop: () => dropSchema(`bench_million_${id}`) },
};
const setup = setups[kind];
if (setup === undefined) throw new Error(`--backend must be sqlite, redis or postgres, not ${kind}`);

const deflow = DeFlow.register({ ...setup.options, resultTasks });
deflow.on('error', (error, during) => console.error(`deflow ${during}: ${error.message}`));
let exitCode = 0;
try {
  await deflow.ready();
  mark('ready');
  console.log(`${kind}: ${tasks.toLocaleString('en-US')} tasks in batches of ${batch.toLocaleString('en-US')}, RSS limit ${limitMb} MB`);
  const began = performance.now();
  phaseStart = began;
  const workflow = WorkFlow.create('million').addStep({ step: fanOut, name: 'fan-out' }).run();
  const result = await workflow.done();
  const runSeconds = (performance.now() - began) / 1000;
  mark(`run to done (${Math.round(tasks / runSeconds).toLocaleString('en-US')} tasks/s)`);
  const summary = result.steps[0]?.summary;
  console.log(`  result: ${result.status}, summary ${JSON.stringify(summary)}`);
  let read = 0;
  let seqSum = 0;
  for await (const task of workflow.iterateResults('fan-out')) {
    read++;
    seqSum += task.seq;
  }
  mark(`iterateResults read ${read.toLocaleString('en-US')} tasks`);
  if (read !== tasks || seqSum !== (tasks * (tasks + 1)) / 2) {
    console.error(`read back ${read} tasks (seq sum ${seqSum}), expected ${tasks}`);
    exitCode = 2;
  }
  await workflow.clean();
} finally {
  await DeFlow.unregister();
  clearInterval(sampler);
  await setup.drop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`${kind}: peak RSS ${mb(peak)} MB (limit ${limitMb} MB)`);
if (mb(peak) > limitMb) {
  console.error(`FAIL: peak RSS ${mb(peak)} MB is above ${limitMb} MB`);
  exitCode = 1;
}
process.exit(exitCode);

/** Deletes the run's keys (SCAN + UNLINK under its prefix only). */
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

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
