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
const REPEATS = quick ? 1 : 3;

interface Row {
  name: string;
  roundTripUs: number;
  callsPerSecond: number;
}

async function measure(contender: Contender): Promise<Row> {
  const running = contender.start(WORKERS);
  try {
    await warmUp(running.call);
    const latencies: number[] = [];
    const rates: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      latencies.push(await roundTrip(running.call, ROUND_TRIP_CALLS));
      rates.push(await throughput(running.call, THROUGHPUT_CALLS));
    }
    return { name: contender.name, roundTripUs: median(latencies), callsPerSecond: median(rates) };
  } finally {
    await running.close();
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
  console.log(`node ${process.version}, ${WORKERS} workers on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'})\n`);

  console.log('Trivial task (x => x + 1), threads');
  const threadRows = [await measure(deflow('thread')), await measure(piscina()), await measure(piscina({ concurrentTasksPerWorker: 10 }))];
  table(threadRows);

  console.log('\nTrivial task (x => x + 1), child processes');
  const processRows = [await measure(deflow('process')), await measure(workerFarm()), await measure(workerPool('process'))];
  table(processRows);

  const [ourThread, piscinaDefault] = threadRows as [Row, Row, Row];
  const [ourProcess, farm, pool] = processRows as [Row, Row, Row];
  console.log('\nRatios');
  console.log(`  thread round trip, deflow / piscina:          ${ratio(ourThread.roundTripUs, piscinaDefault.roundTripUs)}  (target <= 1.2)`);
  console.log(`  thread throughput, deflow / piscina:          ${ratio(ourThread.callsPerSecond, piscinaDefault.callsPerSecond)}`);
  console.log(`  process throughput, deflow / worker-farm:     ${ratio(ourProcess.callsPerSecond, farm.callsPerSecond)}  (target >= 2)`);
  console.log(`  process throughput, deflow / workerpool:      ${ratio(ourProcess.callsPerSecond, pool.callsPerSecond)}`);
  console.log(`  process round trip, deflow / worker-farm:     ${ratio(ourProcess.roundTripUs, farm.roundTripUs)}`);

  console.log(`\nMonte-Carlo pi, ${quick ? 100 : 500} calls of 1,000,000 points`);
  const pi = await runPi(WORKERS, quick ? 100 : 500);
  for (const row of pi) console.log(`  ${row.name.padEnd(22)} ${row.ms.toFixed(0).padStart(7)} ms   speed-up ${row.speedUp.toFixed(2)}   pi ≈ ${row.pi.toFixed(5)}`);

  const out = path.join(fileURLToPath(new URL('../results/', import.meta.url)), `pool-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ node: process.version, workers: WORKERS, quick, threadRows, processRows, pi }, null, 2));
  console.log(`\nwritten to ${path.relative(process.cwd(), out)}`);
}

await main();
