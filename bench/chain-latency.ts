/**
 * A chain of N single-task steps on one node: how long does a step-to-step transition take?
 * Latency of hop i = when step i's task started - when step i-1's task finished.
 *
 *   node --import tsx bench/chain-latency.ts [steps=1000] [backend=sqlite:<tmp>]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

const steps = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'deflow-chain-'));
const backend = process.argv[3] ?? `sqlite:${join(dir, 'chain.db')}`;

const starts: number[] = [];
const ends: number[] = [];
const hop = new StepHandler<unknown, number, number>({
  name: 'bench-hop',
  handler(task) {
    starts[task.data] = performance.now();
    ends[task.data] = performance.now();
    return task.data;
  },
});

DeFlow.register({ backend });
await DeFlow.getInstance().ready();
let workflow = WorkFlow.create('chain', { cleanOnDone: true });
for (let i = 0; i < steps; i++) workflow = workflow.addStep({ step: hop, tasks: [i] });
const began = performance.now();
await workflow.run().done();
const total = performance.now() - began;
const hops = starts.slice(1).map((start, i) => start - (ends[i] ?? start)).sort((a, b) => a - b);
const pct = (p: number): string => (hops[Math.min(hops.length - 1, Math.floor(p * hops.length))] ?? 0).toFixed(3);
console.log(`${backend.split(':')[0]}: ${steps} steps in ${total.toFixed(0)} ms; step-to-step latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`);
await DeFlow.unregister();
rmSync(dir, { recursive: true, force: true });
