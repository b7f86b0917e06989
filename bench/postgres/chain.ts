/**
 * Sequential chain latency: a workflow of N steps, each depending on the previous one, one
 * no-op task each, one worker process. Each task returns when it ran; the gap between two
 * consecutive steps is what deflow adds per step (completion, transition, wake-up, claim).
 */
import DeFlow, { WorkFlow } from '../../src/index.js';
import { DATABASE_URL, dropSchema } from './db.js';
import { startWorkers } from './processes.js';
import { percentile } from './stats.js';
import { stamp } from './steps.js';

export interface ChainTiming {
  steps: number;
  p50Ms: number;
  p99Ms: number;
  totalMs: number;
}

export async function measureChain(steps: number, profile = false): Promise<ChainTiming> {
  const schema = 'bench_chain';
  await dropSchema(schema);
  DeFlow.register({ backend: DATABASE_URL, schema, worker: false });
  await DeFlow.getInstance().ready();
  const workers = await startWorkers(profile ? 'deflow-profiled' : 'deflow', 1, { url: DATABASE_URL, schema });
  try {
    let workflow = WorkFlow.create('chain');
    for (let i = 0; i < steps; i++) workflow = workflow.addStep({ step: stamp, tasks: [i] });
    const started = performance.now();
    const result = await workflow.run().done();
    const totalMs = performance.now() - started;
    const stamps = result.steps.map((step) => step.tasks[0]?.result as number);
    const gaps = stamps.slice(1).map((at, i) => at - (stamps[i] ?? at));
    return { steps, p50Ms: percentile(gaps, 50), p99Ms: percentile(gaps, 99), totalMs };
  } finally {
    await DeFlow.unregister();
    await workers.stop();
    await dropSchema(schema);
  }
}
