/**
 * The chaos creator: a `worker: false` node that keeps starting chaos workflows and records,
 * for each, its plan and every 'step' and 'done' event its handle hears.
 *   node --import tsx test/chaos/creator.ts '<json { options, seed, maxInFlight }>'
 * IPC: 'stop' ends creating (answers { type: 'stopped', created }); 'exit' unregisters and exits.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import DeFlow from '../../src/index.js';
import type { WorkFlow } from '../../src/index.js';
import { buildWorkflow, drawPlan } from './plan.js';
import type { CreatorRecord } from './creator-records.js';
import { Random } from './random.js';

interface CreatorArgs {
  options: Record<string, unknown>;
  seed: number;
  maxInFlight: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as CreatorArgs;
const dir = process.env.CHAOS_LOG_DIR ?? '.';
const record = (entry: CreatorRecord): void => appendFileSync(join(dir, 'creator.jsonl'), `${JSON.stringify(entry)}\n`);
const random = new Random(args.seed);

const deflow = DeFlow.register({ ...args.options, worker: false });
deflow.on('error', (error, during) => appendFileSync(join(dir, 'creator.problems'), `${new Date().toISOString()} ${String(during)}: ${error.message}\n`));
await deflow.ready();

let creating = true;
let created = 0;
const inFlight = new Set<WorkFlow>();

function start(): void {
  const plan = drawPlan(random);
  const workflow = buildWorkflow(plan);
  const wf = workflow.id;
  record({ type: 'plan', wf, plan });
  workflow.on('step', (event) => record({ type: 'step', wf, stepId: event.stepId, status: event.status }));
  workflow.on('done', (result) => record({ type: 'done', wf, status: result.status }));
  workflow.run();
  created++;
  inFlight.add(workflow);
  workflow.started().catch((error: unknown) => record({ type: 'start-error', wf, message: error instanceof Error ? error.message : String(error) }));
  workflow
    .done()
    .catch(() => undefined) // a failed workflow is expected in some variants; the run checks its status
    .finally(() => inFlight.delete(workflow));
}

process.on('message', (message: unknown) => {
  if (message === 'stop') {
    creating = false;
    process.send?.({ type: 'stopped', created });
  } else if (message === 'exit') {
    void DeFlow.unregister().finally(() => process.exit(0));
  }
});
process.send?.({ type: 'ready', pid: process.pid });

while (creating) {
  if (inFlight.size < args.maxInFlight) start();
  await new Promise((resolve) => setTimeout(resolve, random.int(150, 600)));
}
