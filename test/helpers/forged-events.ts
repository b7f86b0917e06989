/**
 * Forged event messages for a workflow a handle follows: a step that is still running reported
 * failed, and the workflow reported succeeded. Event messages are only hints, so the handle must
 * report nothing false: no 'step' for the running step, no end before the real one, and every
 * real step event once.
 */
import { expect } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import type { WorkflowResult } from '../../src/index.js';
import { eventually, sleep } from '../conformance/context.js';
import { within } from './handle-events.js';

/** Released by the test: the gated step's only task waits for it. */
let openGate: () => void = () => undefined;
let gate = Promise.resolve();

const gated = new StepHandler<unknown, number, number>({
  name: 'forged-events-gated',
  async handler(task) {
    await gate;
    return task.data;
  },
});

/** What a test forges: the messages that claim `stepId` failed and the workflow succeeded. */
export type Forge = (workflowId: string, stepId: string) => Promise<void>;

/**
 * Registers with `options`, runs a two-step workflow whose first step waits at a gate, calls
 * `forge` while that step runs, checks that the handle believed nothing, then opens the gate
 * and checks the real events and the real result.
 */
export async function followThroughForgery(options: Record<string, unknown>, forge: Forge): Promise<void> {
  gate = new Promise((resolve) => {
    openGate = resolve;
  });
  await DeFlow.register({ ...options, checkProcessQueueInterval: 200 }).ready();
  const workflow = WorkFlow.create('forged-events').addStep({ step: gated, tasks: [1] }).addStep({ step: gated, tasks: [2] }).run();
  const steps: { stepId: string; status: string }[] = [];
  let doneEvents = 0;
  const forgedTasks: unknown[] = [];
  const badDataWarnings: string[] = [];
  const onWarning = (warning: Error & { code?: string }): void => {
    if (warning.code === 'DEFLOW_BAD_EVENT') badDataWarnings.push(warning.message);
  };
  process.on('warning', onWarning);
  workflow.on('nextTask', (task) => {
    if (task.id.startsWith('forged')) forgedTasks.push(task);
  });
  workflow.on('step', (step) => steps.push({ stepId: step.stepId, status: step.status }));
  workflow.on('done', () => doneEvents++);
  let settled: WorkflowResult | Error | null = null;
  const done = workflow.done().then(
    (result) => (settled = result),
    (error: unknown) => (settled = error instanceof Error ? error : new Error(String(error))),
  );
  const first = await eventually(async () => {
    const stored = await workflow.getSteps();
    return stored[0]?.status === 'running' ? stored[0] : undefined;
  }, 30_000);

  try {
    await forge(workflow.id, first.id);
    await sleep(1_500); // time enough for the forged messages to arrive and be looked at
    expect(steps).toEqual([]);
    expect(settled).toBeNull();
    expect(doneEvents).toBe(0);
    // nextTask messages are passed on unverified, but only well-formed ones; bad data is warned about once.
    expect(forgedTasks).toEqual([]);
    expect(badDataWarnings).toHaveLength(1);
    expect(badDataWarnings[0]).toContain('not JSON');
  } finally {
    openGate();
    process.off('warning', onWarning);
  }
  await within(done, 30_000, 'done()');
  const result = settled as WorkflowResult | Error | null;
  if (result instanceof Error || result === null) throw result ?? new Error('done() did not settle');
  expect(result.status).toBe('succeeded');
  await sleep(300); // nothing more may come
  expect(steps).toEqual(result.steps.map((step) => ({ stepId: step.id, status: 'succeeded' })));
  expect(doneEvents).toBe(1);
}

/** The forged events, as deflow would publish them. */
export function forgedEvents(workflowId: string, stepId: string): object[] {
  return [
    { type: 'step', workflowId, stepId, status: 'failed' },
    { type: 'workflow', workflowId, status: 'succeeded' },
    { type: 'nextTask', workflowId, stepId, taskId: 'forged-1', dataJson: '{bad', attempt: 1 },
    { type: 'nextTask', workflowId, stepId, taskId: 'forged-2', dataJson: '{worse', attempt: 2 },
    { type: 'nextTask', workflowId, stepId, taskId: 'forged-3', dataJson: '1', attempt: 0 },
  ];
}
