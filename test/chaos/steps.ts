/**
 * The chaos workflow's step handlers. Every lifecycle method logs its side effect per attempt
 * (side-effects.ts), and the fan step grows the workflow from each phase: addTasks and addAfter
 * from beforeAll, from a task's handler, and addAfter from afterAll.
 */
import { StepHandler } from '../../src/index.js';
import type { Step, Task } from '../../src/index.js';
import { logEffect, newToken } from './side-effects.js';
import type { Phase } from './side-effects.js';

export interface WorkTask {
  value: number;
  /** Milliseconds the handler takes. */
  ms: number;
  /** Fails its first attempt, succeeds on the next. */
  flaky?: boolean;
  /** Fails every attempt (the failure variants). */
  fail?: boolean;
}

export interface WorkResult {
  value: number;
  /** The attempt that produced this result (side-effects.ts). */
  token: string;
}

/** What the fan step adds, carried in its data so a retried hook adds the same. */
export interface FanData extends HookData {
  /** Added by beforeAll with addTasks. */
  tasks: WorkTask[];
  /** Added by the handler of task 1 with addTasks. */
  extra: WorkTask[];
  /** The task of `fan-pre`, added by beforeAll with addAfter. */
  pre: WorkTask;
  /** The task of `fan-mid`, added by the handler of task 1 with addAfter. */
  mid: WorkTask;
  /** The tasks of `fan-post`, added by afterAll with addAfter. */
  post: WorkTask[];
}

/** Every chaos step's data carries how long its hooks take, so kills land inside hooks too. */
export interface HookData {
  hookMs: number;
}

type AnyStep = Pick<Step<HookData>, 'workflowId' | 'name' | 'data'>;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('chaos: aborted'));
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('chaos: aborted'))), { once: true });
  });
}

/** Runs a hook between a start and an end line. */
async function hook(step: AnyStep, phase: Phase, body: () => Promise<void>): Promise<void> {
  const token = newToken();
  logEffect({ wf: step.workflowId, step: step.name, phase, at: 'start', token });
  await new Promise((resolve) => setTimeout(resolve, step.data.hookMs));
  await body();
  logEffect({ wf: step.workflowId, step: step.name, phase, at: 'end', token });
}

async function work(task: Task<WorkTask, WorkResult>, step: AnyStep, before?: () => Promise<void>): Promise<WorkResult> {
  const token = newToken();
  const line = { wf: step.workflowId, step: step.name, phase: 'task' as const, seq: task.seq, attempt: task.failedCount + 1, token };
  logEffect({ ...line, at: 'start' });
  await before?.();
  await sleep(task.data.ms, task.signal);
  if (task.data.fail === true) throw new Error(`chaos: task ${task.seq} of ${step.name} fails every attempt`);
  if (task.data.flaky === true && task.failedCount === 0) throw new Error(`chaos: task ${task.seq} of ${step.name} fails its first attempt`);
  logEffect({ ...line, at: 'end' });
  return { value: task.data.value, token };
}

function afterEach(task: Task<WorkTask, WorkResult>, step: AnyStep): void {
  // The token of the result being recorded: the stored result must name an attempt that ran afterEach.
  logEffect({ wf: step.workflowId, step: step.name, phase: 'afterEach', seq: task.seq, at: 'end', token: task.result?.token ?? `failed:${newToken()}` });
}

function onHandlerError(task: Task<WorkTask, WorkResult>, step: AnyStep): void {
  logEffect({ wf: step.workflowId, step: step.name, phase: 'onHandlerError', seq: task.seq, attempt: task.failedCount + 1, at: 'end', token: newToken() });
}

/** A step with tasks and no hooks: what the fan step adds with addAfter. */
export const leaf = new StepHandler<HookData, WorkTask, WorkResult>({
  name: 'chaos-leaf',
  handler: (task, step) => work(task, step),
});

/** Tasks with every side hook: `left`, `right`, `rescue`. */
export const worker = new StepHandler<HookData, WorkTask, WorkResult>({
  name: 'chaos-work',
  handler: (task, step) => work(task, step),
  afterEach,
  onHandlerError,
  afterAll: (step) => hook(step, 'afterAll', async () => undefined),
});

/** Grows the workflow from every phase. */
export const fan = new StepHandler<FanData, WorkTask, WorkResult>({
  name: 'chaos-fan',
  beforeAll: (step) =>
    hook(step, 'beforeAll', async () => {
      await step.addTasks(step.data.tasks);
      await step.addAfter({ step: leaf, name: 'fan-pre', tasks: [step.data.pre], data: { hookMs: 0 } });
    }),
  handler: (task, step) =>
    work(task, step, async () => {
      if (task.seq !== 1) return;
      await step.addAfter({ step: leaf, name: 'fan-mid', tasks: [step.data.mid], data: { hookMs: 0 } });
      await step.addTasks(step.data.extra);
    }),
  afterEach,
  onHandlerError,
  afterAll: (step) =>
    hook(step, 'afterAll', async () => {
      await step.addAfter({ step: leaf, name: 'fan-post', tasks: step.data.post, data: { hookMs: 0 } });
    }),
});

/** The join of `left` and `right`: one task whose value is the sum of theirs (read in beforeAll). */
export const join = new StepHandler<HookData & { ms: number }, WorkTask, WorkResult>({
  name: 'chaos-join',
  beforeAll: (step) =>
    hook(step, 'beforeAll', async () => {
      const workflow = await step.getWorkflow();
      let sum = 0;
      for (const name of ['left', 'right']) {
        const parent = await workflow.getStep(name);
        if (parent === undefined) throw new Error(`chaos: the join found no step ${name}`);
        for (const task of await parent.getResults()) {
          const result = task.result as WorkResult | undefined;
          if (result === undefined) throw new Error(`chaos: the join found task ${task.seq} of ${name} without a result`);
          sum += result.value;
        }
      }
      await step.addTasks([{ value: sum, ms: step.data.ms }]);
    }),
  handler: (task, step) => work(task, step),
  afterAll: (step) => hook(step, 'afterAll', async () => undefined),
});
