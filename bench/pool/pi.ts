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

/**
 * Runs single-process, process farm and thread farm in turns, `rounds` times, and keeps each
 * one's fastest run: other work on the machine then slows all three alike rather than whichever
 * happened to run at that moment.
 */
export async function runPi(workers: number, calls: number, rounds = 1): Promise<PiRow[]> {
  const farms = (['process', 'thread'] as const).map((type) =>
    createFarm<{ default(points: number): number }>({
      module: fileURLToPath(new URL('./workers/pi.mjs', import.meta.url)),
      type,
      numberOfWorkers: workers,
    }),
  );
  for (const farm of farms) await farm.broadcast(1); // started and warm, like the single-process run
  const variants: { name: string; run: () => Promise<number> }[] = [
    {
      name: 'single process',
      run: async () => {
        let inside = 0;
        for (let i = 0; i < calls; i++) inside += insideCircle(POINTS);
        return inside;
      },
    },
    ...farms.map((farm) => ({
      name: `deflow ${farm.options.type} farm`,
      run: async () => (await Promise.all(Array.from({ length: calls }, () => farm.run(POINTS)))).reduce((a, b) => a + b, 0),
    })),
  ];
  const best = variants.map(() => ({ ms: Infinity, inside: 0 }));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [i, variant] of variants.entries()) {
        const started = performance.now();
        const inside = await variant.run();
        const ms = performance.now() - started;
        if (ms < (best[i]?.ms ?? Infinity)) best[i] = { ms, inside };
      }
    }
  } finally {
    await Promise.all(farms.map((farm) => farm.kill()));
  }
  const single = best[0]?.ms ?? NaN;
  return variants.map((variant, i) => ({
    name: variant.name,
    ms: best[i]?.ms ?? NaN,
    speedUp: single / (best[i]?.ms ?? NaN),
    pi: (4 * (best[i]?.inside ?? 0)) / (POINTS * calls),
  }));
}
