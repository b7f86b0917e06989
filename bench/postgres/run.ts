/**
 * PostgreSQL benchmark: deflow next to graphile-worker and pg-boss on the same server, in the
 * same run, with the same number of worker processes; then deflow's sequential chain latency.
 *
 *   node --import tsx bench/postgres/run.ts [--jobs 100000] [--procs 2] [--runs 3] [--chain 1000] [--only deflow,graphile,pgboss] [--profile]
 *
 * --profile: deflow's worker processes time every backend call and print a summary.
 *
 * Each run gives every contender a fresh schema and its own processes, in turns (a burst of
 * load from elsewhere then hits all alike); medians are reported. Writes
 * bench/results/postgres-<date>.json. DATABASE_URL selects the server.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureChain } from './chain.js';
import type { ChainTiming } from './chain.js';
import { deflow, graphileWorker, pgBoss } from './contenders.js';
import type { Contender, Timing } from './contenders.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100000' },
    procs: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    chain: { type: 'string', default: '1000' },
    only: { type: 'string', default: 'deflow,graphile,pgboss' },
    profile: { type: 'boolean', default: false },
  },
});
const JOBS = Number(values.jobs);
const PROCS = Number(values.procs);
const RUNS = Number(values.runs);
const CHAIN = Number(values.chain);
const selected = new Set(values.only.split(','));
const contenders = [
  ['deflow', deflow],
  ['graphile', graphileWorker],
  ['pgboss', pgBoss],
] as const satisfies readonly (readonly [string, Contender])[];

function load(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return os.loadavg().map((v) => v.toFixed(2)).join(', ');
  }
}

const rate = (timing: Timing): number => JOBS / (timing.totalMs / 1000);
const processingRate = (timing: Timing): number => JOBS / ((timing.totalMs - timing.enqueueMs) / 1000);
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${os.cpus().length} cores, ${PROCS} worker processes per system, ${JOBS.toLocaleString('en-US')} no-op jobs, ${RUNS} runs`);
  console.log(`load before: ${load()}`);
  const timings = new Map<string, Timing[]>();
  for (let run = 1; run <= RUNS; run++) {
    for (const [key, contender] of contenders) {
      if (!selected.has(key)) continue;
      const timing = await contender.measure(PROCS, JOBS, values.profile);
      timings.set(contender.name, [...(timings.get(contender.name) ?? []), timing]);
      console.log(
        `run ${run} ${contender.name.padEnd(32)} ${fmt(rate(timing)).padStart(8)} jobs/s end to end` +
          (timing.withResultsMs === undefined ? '' : ` (${fmt(JOBS / (timing.withResultsMs / 1000))} with results read back)`) +
          ` (enqueue ${Math.round(timing.enqueueMs)} ms, then ${fmt(processingRate(timing))} jobs/s)   load: ${os.loadavg()[0]?.toFixed(2)}`,
      );
    }
  }
  const rows = [...timings].map(([name, list]) => ({
    name,
    jobsPerSecond: median(list.map(rate)),
    processingPerSecond: median(list.map(processingRate)),
    enqueueMs: median(list.map((t) => t.enqueueMs)),
    withResultsPerSecond: list[0]?.withResultsMs === undefined ? null : median(list.map((t) => JOBS / ((t.withResultsMs ?? 0) / 1000))),
  }));
  console.log(`\n${'system'.padEnd(34)}${'end to end (jobs/s)'.padStart(20)}${'after enqueue (jobs/s)'.padStart(24)}${'enqueue (ms)'.padStart(14)}`);
  for (const row of rows) {
    console.log(`${row.name.padEnd(34)}${fmt(row.jobsPerSecond).padStart(20)}${fmt(row.processingPerSecond).padStart(24)}${fmt(row.enqueueMs).padStart(14)}`);
  }
  for (const row of rows) {
    if (row.withResultsPerSecond !== null) {
      console.log(`${row.name}: ${fmt(row.withResultsPerSecond)} jobs/s counting done(), which also reads all ${JOBS.toLocaleString('en-US')} results back`);
    }
  }
  const ours = rows.find((row) => row.name === deflow.name);
  for (const row of rows) {
    if (ours === undefined || row === ours) continue;
    console.log(`deflow / ${row.name}: ${(ours.jobsPerSecond / row.jobsPerSecond).toFixed(2)}x end to end, ${(ours.processingPerSecond / row.processingPerSecond).toFixed(2)}x after enqueue`);
  }
  let chain: ChainTiming | null = null;
  if (CHAIN > 0 && selected.has('deflow')) {
    chain = await measureChain(CHAIN, values.profile);
    console.log(`\nchain of ${CHAIN} steps: p50 ${chain.p50Ms.toFixed(2)} ms, p99 ${chain.p99Ms.toFixed(2)} ms per step (${Math.round(chain.totalMs)} ms in all)`);
  }
  console.log(`load after: ${load()}`);
  const out = path.join(fileURLToPath(new URL('../results/', import.meta.url)), `postgres-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ node: process.version, cores: os.cpus().length, procs: PROCS, jobs: JOBS, runs: RUNS, rows, raw: Object.fromEntries(timings), chain }, null, 2));
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

await main();
