/**
 * Redis benchmark: deflow next to BullMQ on the same Redis, same machine, same run.
 *
 *   node --import tsx bench/redis/run.ts [--runs 5] [--tasks 100000] [--steps 1000] [--bullmq-concurrency 100]
 *
 * - throughput: one step of N no-op tasks on one deflow node, vs BullMQ processing N no-op
 *   jobs (addBulk, removeOnComplete, tuned worker concurrency); both timed from "work stored"
 *   to "last one finished"; the ratio deflow / BullMQ.
 * - chain: a workflow of S single-task steps; per-step transition latency (start of step k+1's
 *   task minus start of step k's), p50 / p90 / p99.
 * Each measurement runs in a fresh process (scenarios alternate, so load from elsewhere on the
 * machine hits all alike); medians over the runs are printed and written to
 * bench/results/redis-<date>.json. REDIS_URL selects the server (default redis://127.0.0.1:6379).
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ChainLatency, Throughput } from './scenarios.js';

const HERE = fileURLToPath(import.meta.url);

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const RUNS = option('runs', 5);
const TASKS = option('tasks', 100_000);
const STEPS = option('steps', 1_000);
const BULL_CONCURRENCY = option('bullmq-concurrency', 100);
const DEFLOW_CONCURRENCY = option('deflow-concurrency', 1);

type Scenario = 'deflow' | 'bullmq' | 'chain';

/** Child mode: run one scenario, send its figures to the parent. */
async function child(scenario: Scenario): Promise<void> {
  const scenarios = await import('./scenarios.js');
  const result =
    scenario === 'deflow'
      ? await scenarios.deflowThroughput(TASKS, DEFLOW_CONCURRENCY)
      : scenario === 'bullmq'
        ? await scenarios.bullmqThroughput(TASKS, BULL_CONCURRENCY)
        : await scenarios.chainLatency(STEPS);
  process.send?.(result);
}

function runChild<T>(scenario: Scenario): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = fork(HERE, ['--scenario', scenario, ...process.argv.slice(2)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    let result: T | undefined;
    proc.on('message', (message: T) => {
      result = message;
    });
    proc.on('exit', (code) => (result === undefined ? reject(new Error(`${scenario} exited with ${code} and no result`)) : resolve(result)));
  });
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function parent(): Promise<void> {
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${load}`);
  console.log(`${RUNS} runs; ${TASKS.toLocaleString('en-US')} tasks; chain of ${STEPS} steps; BullMQ concurrency ${BULL_CONCURRENCY}`);
  const deflow: Throughput[] = [];
  const bullmq: Throughput[] = [];
  const chain: ChainLatency[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const d = await runChild<Throughput>('deflow');
    const b = await runChild<Throughput>('bullmq');
    const c = await runChild<ChainLatency>('chain');
    deflow.push(d);
    bullmq.push(b);
    chain.push(c);
    console.log(
      `run ${run}: deflow ${fmt(d.perSecond)} tasks/s (add ${fmt(d.addMs)} ms), BullMQ ${fmt(b.perSecond)} jobs/s (add ${fmt(b.addMs)} ms), ` +
        `ratio ${(d.perSecond / b.perSecond).toFixed(1)}x; chain p50 ${c.p50.toFixed(2)} ms p99 ${c.p99.toFixed(2)} ms`,
    );
  }
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    loadAverageAtStart: load,
    runs: RUNS,
    tasks: TASKS,
    steps: STEPS,
    bullmqConcurrency: BULL_CONCURRENCY,
    deflowPerSecond: median(deflow.map((r) => r.perSecond)),
    bullmqPerSecond: median(bullmq.map((r) => r.perSecond)),
    ratio: median(deflow.map((r, i) => r.perSecond / (bullmq[i]?.perSecond ?? Infinity))),
    deflowAddMs: median(deflow.map((r) => r.addMs)),
    bullmqAddMs: median(bullmq.map((r) => r.addMs)),
    chainP50: median(chain.map((r) => r.p50)),
    chainP90: median(chain.map((r) => r.p90)),
    chainP99: median(chain.map((r) => r.p99)),
    raw: { deflow, bullmq, chain },
  };
  console.log('\nmedians');
  console.log(`  deflow   ${fmt(summary.deflowPerSecond).padStart(9)} tasks/s   (storing ${fmt(summary.deflowAddMs)} ms)`);
  console.log(`  BullMQ   ${fmt(summary.bullmqPerSecond).padStart(9)} jobs/s    (addBulk ${fmt(summary.bullmqAddMs)} ms)`);
  console.log(`  ratio    ${summary.ratio.toFixed(1)}x`);
  console.log(`  chain    p50 ${summary.chainP50.toFixed(2)} ms, p90 ${summary.chainP90.toFixed(2)} ms, p99 ${summary.chainP99.toFixed(2)} ms per step`);
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}redis-${summary.date.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify(summary, null, 2));
  console.log(`\nwritten to ${file}`);
}

const scenarioAt = process.argv.indexOf('--scenario');
if (scenarioAt >= 0) await child(process.argv[scenarioAt + 1] as Scenario);
else await parent();
