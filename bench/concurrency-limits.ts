/**
 * What key concurrency costs: one step of N no-op tasks on one node, with `keyConcurrency: 1`
 * over K keys next to the same step without limits, on Redis and PostgreSQL.
 *
 *   node --import tsx bench/concurrency-limits.ts [--tasks 100000] [--keys 1000] [--concurrency 1000] [--runs 3] [--backends redis,postgres]
 *
 * Each measurement runs in a fresh process, plain and keyed alternating; medians of the
 * processing time (work stored → last task finished) are printed with the ratio keyed / plain
 * throughput. REDIS_URL and DATABASE_URL select the servers.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

const HERE = fileURLToPath(import.meta.url);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

const TASKS = Number(option('tasks', '100000'));
const KEYS = Number(option('keys', '1000'));
const CONCURRENCY = Number(option('concurrency', '1000'));
const RUNS = Number(option('runs', '3'));
const BACKENDS = option('backends', 'redis,postgres').split(',');

interface Run {
  processMs: number;
}

const noop = new StepHandler<unknown, { k: number }, void>({ name: 'bench-limits-noop', handler: () => undefined });

async function child(backend: string, keyed: boolean): Promise<Run> {
  const isolation = `bench_limits_${randomBytes(3).toString('hex')}`;
  const options = backend === 'redis' ? { backend: REDIS_URL, prefix: isolation } : { backend: DATABASE_URL, schema: isolation };
  const deflow = DeFlow.register(options);
  deflow.on('error', (error, during) => console.error(`deflow ${during}: ${error.message}`));
  await deflow.ready();
  const tasks = Array.from({ length: TASKS }, (_, i) => ({ k: i % KEYS }));
  const limits = keyed ? { concurrencyKey: 'k', keyConcurrency: 1 } : {};
  const workflow = WorkFlow.create('bench-limits').addStep({ step: noop, tasks, options: { taskConcurrency: CONCURRENCY, ...limits } });
  const startedAt = performance.now();
  workflow.run();
  await workflow.started();
  const storedAt = performance.now();
  await workflow.done();
  const processMs = performance.now() - storedAt;
  console.error(`${backend} ${keyed ? 'keyed' : 'plain'}: stored in ${(storedAt - startedAt).toFixed(0)} ms, processed in ${processMs.toFixed(0)} ms`);
  await DeFlow.unregister();
  if (backend === 'postgres') {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${isolation} CASCADE`);
    await client.end();
  } else {
    const { Redis } = await import('ioredis');
    const client = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${isolation}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
    await client.quit();
  }
  return { processMs };
}

function runChild(backend: string, keyed: boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = fork(HERE, ['--child', backend, keyed ? 'keyed' : 'plain', ...process.argv.slice(2)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    let result: Run | undefined;
    proc.on('message', (message: Run) => {
      result = message;
    });
    proc.on('exit', (code) => (result === undefined ? reject(new Error(`${backend} exited with ${code} and no result`)) : resolve(result)));
  });
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  const result = await child(process.argv[childAt + 1] ?? 'redis', process.argv[childAt + 2] === 'keyed');
  process.send?.(result);
} else {
  console.log(`${TASKS} no-op tasks, taskConcurrency ${CONCURRENCY}; keyed: keyConcurrency 1 over ${KEYS} keys; ${RUNS} runs each`);
  for (const backend of BACKENDS) {
    const plain: number[] = [];
    const keyed: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      plain.push((await runChild(backend, false)).processMs);
      keyed.push((await runChild(backend, true)).processMs);
    }
    const p = median(plain);
    const k = median(keyed);
    console.log(
      `${backend}: plain ${p.toFixed(0)} ms (${((TASKS / p) * 1000).toFixed(0)}/s), keyed ${k.toFixed(0)} ms (${((TASKS / k) * 1000).toFixed(0)}/s): keyed runs at ${((p / k) * 100).toFixed(0)} % of plain`,
    );
  }
}
