// CPU-bound job: Monte-Carlo pi, one process doing every call vs farms spreading them.
import { fileURLToPath } from 'node:url';
import insideCircle from './workers/pi.mjs';
import { createFarm } from '../../src/pool/index.js';

const POINTS = 1_000_000;

export interface PiRow {
  name: string;
  ms: number;
  speedUp: number;
  pi: number;
}

/** Each variant runs `rounds` times; the fastest counts (least disturbed by other work on the machine). */
export async function runPi(workers: number, calls: number, rounds = 1): Promise<PiRow[]> {
  let single = Infinity;
  let inside = 0;
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    inside = 0;
    for (let i = 0; i < calls; i++) inside += insideCircle(POINTS);
    single = Math.min(single, performance.now() - started);
  }
  const rows: PiRow[] = [{ name: 'single process', ms: single, speedUp: 1, pi: (4 * inside) / (POINTS * calls) }];

  for (const type of ['process', 'thread'] as const) {
    const farm = createFarm<{ default(points: number): number }>({
      module: fileURLToPath(new URL('./workers/pi.mjs', import.meta.url)),
      type,
      numberOfWorkers: workers,
    });
    await farm.broadcast(1); // started and warm, like the single-process run
    let best = Infinity;
    let counts: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      counts = await Promise.all(Array.from({ length: calls }, () => farm.run(POINTS)));
      best = Math.min(best, performance.now() - started);
    }
    await farm.kill();
    rows.push({ name: `deflow ${type} farm`, ms: best, speedUp: single / best, pi: (4 * counts.reduce((a, b) => a + b, 0)) / (POINTS * calls) });
  }
  return rows;
}
