/**
 * Corrupt stored records (docs/backends/step-machine.md#corrupt-records): whoever can write the
 * store can write junk into a step's record or a task's data. The workflow holding it fails
 * with a CorruptRecordError that names what was bad; the node reports it once, keeps running,
 * and finishes the other workflows it has; reads of the corrupt workflow (what `deflow show`
 * prints) still work.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { CorruptTarget } from '../helpers/backends.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';

/** Opened by the test once it has corrupted the record: the step after it then becomes runnable. */
let openGate: () => void = () => undefined;
let gateReached = false;

const gate = new StepHandler<unknown, number, number>({
  name: 'corrupt-gate',
  async handler(task) {
    gateReached = true;
    await new Promise<void>((resolve) => {
      openGate = resolve;
    });
    return task.data;
  },
});
const reader = new StepHandler<unknown, number, number>({
  name: 'corrupt-reader',
  options: { taskMaxFailCount: 3 },
  handler: (task) => task.data,
});
const busy = new StepHandler<unknown, number, number>({
  name: 'corrupt-busy',
  options: { taskConcurrency: 4 },
  async handler(task) {
    await new Promise((resolve) => setTimeout(resolve, 2));
    return task.data * 2;
  },
});

interface Run {
  failure: WorkflowFailedError;
  problems: { during: string; code: unknown; message: string }[];
  workflowId: string;
}

/**
 * Runs workflow A (gate -> reader) beside workflow B (two busy steps); while A waits at its
 * gate, `corrupt` targets A's step 2 (reader). B must succeed, A must fail.
 */
export async function corruptWhileRunning(context: Conformance, target: (workflowId: string) => CorruptTarget): Promise<Run> {
  gateReached = false;
  const deflow = await context.register();
  const problems: Run['problems'] = [];
  deflow.on('error', (error: Error & { code?: unknown }, during: string) => problems.push({ during, code: error.code, message: error.message }));
  const a = WorkFlow.create('corrupt-a').addStep({ step: gate, tasks: [1] }).addStep({ step: reader, tasks: [1, 2, 3] }).run();
  const tasks = Array.from({ length: 300 }, (_, i) => i);
  const b = WorkFlow.create('corrupt-b').addStep({ step: busy, tasks }).addStep({ step: busy, tasks }).run();
  const aDone = a.done().then(
    () => undefined,
    (error: unknown) => error,
  );
  await eventually(() => (gateReached ? true : undefined));
  await context.backend.corruptRecord(context.options(), target(a.id));
  openGate();
  const bResult = await b.done();
  expect(bResult.status).toBe('succeeded');
  expect(bResult.steps.map((step) => step.progress.done)).toEqual([300, 300]);
  const failure = await aDone;
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  // The node goes on: a new workflow runs to its end.
  expect((await WorkFlow.create('corrupt-after').addStep({ step: busy, tasks: [1, 2] }).run().done()).status).toBe('succeeded');
  return { failure: failure as WorkflowFailedError, problems, workflowId: a.id };
}

/** What `deflow show` reads: none of it throws on a corrupt workflow. */
async function readsStillWork(workflowId: string): Promise<void> {
  const { backend } = await DeFlow.getInstance().services();
  expect((await backend.getWorkflow(workflowId))?.status).toBe('failed');
  const steps = await backend.getSteps(workflowId);
  expect(steps).toHaveLength(2);
  for (const step of steps) await backend.getTasks(workflowId, step.id, { afterSeq: 0, limit: 100 });
}

export function causeChain(error: unknown): { code?: unknown; message?: unknown; field?: unknown }[] {
  const chain: { code?: unknown; message?: unknown; field?: unknown; cause?: unknown }[] = [];
  let current = error as { code?: unknown; message?: unknown; field?: unknown; cause?: unknown } | undefined;
  while (current !== undefined && current !== null && chain.length < 10) {
    chain.push(current);
    current = current.cause as typeof current;
  }
  return chain;
}

export function corruptRecords(context: Conformance): void {
  describe('corrupt records', () => {
    it('fails a task whose stored data is not JSON, at once and for good, and finishes the other workflow', async () => {
      const { failure, problems, workflowId } = await corruptWhileRunning(context, (id) => ({
        workflowId: id,
        stepId: '2',
        seq: 2,
        field: 'task data',
        value: '{"half an object',
      }));
      expect(problems.filter((p) => p.code === 'ERR_CORRUPT_RECORD')).toHaveLength(1);
      const reader = failure.result.steps[1];
      expect(reader?.status).toBe('failed');
      const task = (await (await WorkFlow.getById(workflowId))?.getStep('2'))?.getResults();
      const [, second] = (await task) ?? [];
      expect(second?.error).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'task data', seq: 2 });
      expect(second?.error?.message).toContain('stored data of task 2 of step 2');
      expect(second?.failedCount).toBe(1); // not retried: taskMaxFailCount 3 would allow it
      const chain = causeChain(failure.result.error);
      expect(chain.at(-1)).toMatchObject({ code: 'ERR_CORRUPT_RECORD' });
      await readsStillWork(workflowId);
    });

    it('fails a step whose stored options have the wrong shape, and reports it once', async () => {
      const { failure, problems, workflowId } = await corruptWhileRunning(context, (id) => ({ workflowId: id, stepId: '2', field: 'options', value: '5' }));
      expect(failure.result.steps[1]?.status).toBe('failed');
      const chain = causeChain(failure.result.error);
      expect(chain.at(-1)).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'options' });
      expect(String(chain.at(-1)?.message)).toContain('the options field of its stored record is unusable (a number, not an object)');
      const reported = problems.filter((p) => p.code === 'ERR_CORRUPT_RECORD' && p.message.includes(`workflow ${workflowId}`));
      expect(reported).toHaveLength(1);
      await readsStillWork(workflowId);
    });

    it('fails a step whose stored handler reference is not usable', async () => {
      const { failure, workflowId } = await corruptWhileRunning(context, (id) => ({ workflowId: id, stepId: '2', field: 'handler', value: '{oops' }));
      const chain = causeChain(failure.result.error);
      expect(chain.at(-1)).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'handler' });
      await readsStillWork(workflowId);
    });

    it('fails a step whose stored data is not JSON', async () => {
      const { failure, problems, workflowId } = await corruptWhileRunning(context, (id) => ({ workflowId: id, stepId: '2', field: 'data', value: 'not json' }));
      const chain = causeChain(failure.result.error);
      expect(chain.at(-1)).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'step data' });
      // Every job of the step failed on it; it is reported once.
      expect(problems.filter((p) => p.code === 'ERR_CORRUPT_RECORD' && p.message.includes('stored data of step'))).toHaveLength(1);
      await readsStillWork(workflowId);
    });

    it('shows a stored error that is not a JSON object as a CorruptRecordError', async () => {
      const { workflowId } = await corruptWhileRunning(context, (id) => ({ workflowId: id, stepId: '2', field: 'data', value: 'not json' }));
      await context.backend.corruptRecord(context.options(), { workflowId, stepId: '2', field: 'error', value: '<junk>' });
      const { backend } = await DeFlow.getInstance().services();
      const step = await backend.getStep(workflowId, '2');
      expect(step?.error).toMatchObject({ name: 'CorruptRecordError', code: 'ERR_CORRUPT_RECORD', field: 'error' });
    });
  });
}
