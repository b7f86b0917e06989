// Timing helpers: per-call round trip (one call at a time) and throughput (all calls at once).

export async function warmUp(call: (x: number) => Promise<number>, calls = 500): Promise<void> {
  // Sequential first (every worker started), then a burst (JIT warm on both sides).
  for (let i = 0; i < 20; i++) await call(i);
  await Promise.all(Array.from({ length: calls }, (_, i) => call(i)));
}

/** Microseconds per call, one call in flight at a time. */
export async function roundTrip(call: (x: number) => Promise<number>, calls: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    if ((await call(i)) !== i + 1) throw new Error('wrong answer');
  }
  return ((performance.now() - started) * 1000) / calls;
}

/** Calls per second with `calls` submitted at once. */
export async function throughput(call: (x: number) => Promise<number>, calls: number): Promise<number> {
  const started = performance.now();
  const pending: Promise<number>[] = new Array<Promise<number>>(calls);
  for (let i = 0; i < calls; i++) pending[i] = call(i);
  await Promise.all(pending);
  return calls / ((performance.now() - started) / 1000);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}
