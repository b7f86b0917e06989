// Worker pool benchmark: deflow farms next to Piscina, worker-farm and workerpool, same machine,
// same run. Run with: node --import tsx bench/pool/run.ts [--quick]
// Prints a table and ratios, and writes bench/results/pool-<date>.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflow, piscina, workerFarm, workerPool, type Contender } from './contenders.js';
import { median, roundTrip, throughput, warmUp } from './measure.js';
import { runPi } from './pi.js';

const quick = process.argv.includes('--quick');
const WORKERS = os.availableParallelism();
const ROUND_TRIP_CALLS = quick ? 1_000 : 5_000;
const THROUGHPUT_CALLS = quick ? 10_000 : 50_000;
const REPEATS = quick ? 1 : 5;

interface Row {
  name: string;
  roundTripUs: number;
  callsPerSecond: number;
}

/**
 * Starts every pool of a group, then measures them in turns (round trip for each, throughput
 * for each, repeat) and keeps each one's median: a burst of load from elsewhere on the machine
 * then hits all contenders alike instead of whichever ran at that moment.
 */
async function measureGroup(contenders: Contender[]): Promise<Row[]> {
  const running = contenders.map((contender) => contender.start(WORKERS));
  try {
    for (const pool of running) await warmUp(pool.call);
    const latencies = running.map((): number[] => []);
    const rates = running.map((): number[] => []);
    for (let round = 0; round < REPEATS; round++) {
      for (const [i, pool] of running.entries()) latencies[i]?.push(await roundTrip(pool.call, ROUND_TRIP_CALLS));
      for (const [i, pool] of running.entries()) rates[i]?.push(await throughput(pool.call, THROUGHPUT_CALLS));
    }
    return contenders.map((contender, i) => ({
      name: contender.name,
      roundTripUs: median(latencies[i] ?? []),
      callsPerSecond: median(rates[i] ?? []),
    }));
  } finally {
    for (const pool of running) await pool.close();
  }
}

function table(rows: Row[]): void {
  console.log(`${'pool'.padEnd(24)}${'round trip (µs/call)'.padStart(22)}${'throughput (calls/s)'.padStart(24)}`);
  for (const row of rows) {
    console.log(`${row.name.padEnd(24)}${row.roundTripUs.toFixed(1).padStart(22)}${Math.round(row.callsPerSecond).toLocaleString('en-US').padStart(24)}`);
  }
}

const ratio = (a: number, b: number): string => (a / b).toFixed(2);

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${WORKERS} workers on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'})`);
  // Other work on the machine skews every figure (the pi speed-up most): say how busy it was.
  console.log(`load average before the run: ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}\n`);

  console.log('Trivial task (x => x + 1), threads');
  const threadRows = await measureGroup([deflow('thread'), piscina(), piscina({ concurrentTasksPerWorker: 10 })]);
  table(threadRows);

  console.log('\nTrivial task (x => x + 1), child processes');
  const processRows = await measureGroup([deflow('process'), workerFarm(), workerPool('process')]);
  table(processRows);

  const [ourThread, piscinaDefault] = threadRows as [Row, Row, Row];
  const [ourProcess, farm, pool] = processRows as [Row, Row, Row];
  console.log('\nRatios');
  console.log(`  thread round trip, deflow / piscina:          ${ratio(ourThread.roundTripUs, piscinaDefault.roundTripUs)}  (target <= 1.2)`);
  console.log(`  thread throughput, deflow / piscina:          ${ratio(ourThread.callsPerSecond, piscinaDefault.callsPerSecond)}`);
  console.log(`  process throughput, deflow / worker-farm:     ${ratio(ourProcess.callsPerSecond, farm.callsPerSecond)}  (target >= 2)`);
  console.log(`  process throughput, deflow / workerpool:      ${ratio(ourProcess.callsPerSecond, pool.callsPerSecond)}`);
  console.log(`  process round trip, deflow / worker-farm:     ${ratio(ourProcess.roundTripUs, farm.roundTripUs)}`);

  console.log(`\nMonte-Carlo pi, ${quick ? 100 : 500} calls of 1,000,000 points (best of ${quick ? 1 : 3}, in turns; load average now ${os.loadavg()[0]?.toFixed(2)})`);
  const pi = await runPi(WORKERS, quick ? 100 : 500, quick ? 1 : 3);
  for (const row of pi) console.log(`  ${row.name.padEnd(22)} ${row.ms.toFixed(0).padStart(7)} ms   speed-up ${row.speedUp.toFixed(2)}   pi ≈ ${row.pi.toFixed(5)}`);

  const out = path.join(fileURLToPath(new URL('../results/', import.meta.url)), `pool-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ node: process.version, workers: WORKERS, quick, threadRows, processRows, pi }, null, 2));
  console.log(`\nwritten to ${path.relative(process.cwd(), out)}`);
}

await main();
