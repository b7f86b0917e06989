/**
 * A workflow that runs for a few seconds while junk is published on the event channels its
 * node listens to: it must finish, the node must keep running, and each kind of junk must be
 * reported (once) through the registration's 'error' event.
 */
import { expect } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';

const slow = new StepHandler<unknown, number, number>({
  name: 'hostile-messages-slow',
  options: { taskConcurrency: 4 },
  async handler(task) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return task.data + 1;
  },
});

export interface Warning {
  during: string;
  code: unknown;
  message: string;
}

/**
 * Registers with `options`, runs a three-step workflow of 400 tasks each, calls `publishAll`
 * (which publishes the junk) three times while it runs, and returns the warnings reported.
 */
export async function runUnderJunk(options: Record<string, unknown>, publishAll: () => Promise<void>): Promise<Warning[]> {
  const warnings: Warning[] = [];
  const deflow = await DeFlow.register({ ...options, checkProcessQueueInterval: 200 }).ready();
  deflow.on('error', (error: Error & { code?: unknown }, during: string) => {
    warnings.push({ during, code: error.code, message: error.message });
  });
  const tasks = Array.from({ length: 400 }, (_, i) => i);
  const workflow = WorkFlow.create('under-junk')
    .addStep({ step: slow, tasks })
    .addStep({ step: slow, tasks })
    .addStep({ step: slow, tasks })
    .run();
  let steps = 0;
  workflow.on('step', () => steps++);
  const done = workflow.done();
  for (let round = 0; round < 3; round++) {
    await publishAll();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const result = await done;
  expect(result.status).toBe('succeeded');
  expect(steps).toBe(3);
  // The node still works: another workflow runs to its end.
  const after = await WorkFlow.create('after-junk').addStep({ step: slow, tasks: [1, 2, 3] }).run().done();
  expect(after.status).toBe('succeeded');
  return warnings;
}

/** Asserts a warning about a skipped event message whose text contains each of `reasons`, and no reason twice. */
export function expectReported(warnings: readonly Warning[], reasons: readonly string[]): void {
  const skipped = warnings.filter((w) => w.during === 'events' && w.code === 'ERR_CORRUPT_RECORD');
  for (const reason of reasons) expect(skipped.map((w) => w.message).filter((m) => m.includes(reason))).toHaveLength(1);
}
