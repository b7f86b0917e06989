/**
 * One chaos workflow: its shape, drawn from the seeded generator, and what must come out of it.
 *
 *   fan (beforeAll: addTasks + addAfter fan-pre; task 1: addAfter fan-mid + addTasks; afterAll: addAfter fan-post)
 *    ├─ left ─┐
 *    └─ right ┴─ join (beforeAll reads both; one task with the sum)
 *         └─ rescue (when: 'failure', variant `handled` only)
 *
 * Variants: `ok` (everything succeeds), `handled` (a task of right always fails, rescue handles
 * it: the workflow succeeds), `unhandled` (the same failure, unhandled: the workflow fails).
 */
import { WorkFlow } from '../../src/index.js';
import type { StepOptions } from '../../src/index.js';
import type { Random } from './random.js';
import { fan, join, worker } from './steps.js';
import type { FanData, WorkTask } from './steps.js';

export type Variant = 'ok' | 'handled' | 'unhandled';

export interface Plan {
  variant: Variant;
  fan: FanData;
  left: WorkTask[];
  right: WorkTask[];
  rescue: WorkTask[];
  joinMs: number;
  /** How long each hook of a step takes, by step name. */
  hookMs: Record<'left' | 'right' | 'join' | 'rescue', number>;
  concurrency: number;
}

export interface ExpectedStep {
  status: 'succeeded' | 'failed' | 'skipped';
  /** Task values in seq order. */
  values: number[];
  /** Seqs that fail for good. */
  failing: number[];
  hooks: ('beforeAll' | 'afterAll')[];
  /** Does the step run afterEach (and onHandlerError)? */
  sideHooks: boolean;
}

export interface Expected {
  status: 'succeeded' | 'failed';
  steps: Record<string, ExpectedStep>;
}

/**
 * Failed attempts allowed per task and hook. Kills do not use them up (they count against
 * `maxNodeLosses`), but a hook's or handler's own call to the store (addTasks, addAfter,
 * getResults) fails while the server restarts, and that is a failed attempt: allow many.
 */
export const MAX_ATTEMPTS = 25;

/** Node losses allowed per task and hook: far more than a run's kills can do to one task. */
export const MAX_NODE_LOSSES = 100;

function tasks(random: Random, count: number, maxMs: number, first: number): WorkTask[] {
  return Array.from({ length: count }, (_, i) => ({
    value: first + i,
    ms: random.chance(0.2) ? 0 : random.int(1, maxMs),
    ...(random.chance(0.15) ? { flaky: true } : {}),
  }));
}

export function drawPlan(random: Random): Plan {
  const roll = random.next();
  const variant: Variant = roll < 0.6 ? 'ok' : roll < 0.8 ? 'handled' : 'unhandled';
  const right = tasks(random, random.int(2, 6), 300, 200);
  if (variant !== 'ok') {
    const failing = right[random.int(0, right.length - 1)];
    if (failing !== undefined) Object.assign(failing, { fail: true, ms: random.int(0, 20) });
  }
  return {
    variant,
    fan: {
      hookMs: random.int(0, 400),
      tasks: tasks(random, random.int(3, 12), 400, 1),
      extra: tasks(random, 2, 200, 50),
      pre: { value: 60, ms: random.int(0, 100) },
      mid: { value: 70, ms: random.int(0, 100) },
      post: tasks(random, 2, 100, 80),
    },
    left: tasks(random, random.int(2, 6), 300, 100),
    right,
    rescue: tasks(random, 1, 100, 300),
    joinMs: random.int(0, 100),
    hookMs: { left: random.int(0, 400), right: random.int(0, 400), join: random.int(0, 400), rescue: random.int(0, 400) },
    concurrency: random.int(1, 4),
  };
}

const sum = (list: WorkTask[]): number => list.reduce((total, task) => total + task.value, 0);
const values = (list: WorkTask[]): number[] => list.map((task) => task.value);

export function expectedOf(plan: Plan): Expected {
  const ok = plan.variant === 'ok';
  const leafStep = (list: WorkTask[]): ExpectedStep => ({ status: 'succeeded', values: values(list), failing: [], hooks: [], sideHooks: false });
  const workStep = (list: WorkTask[]): ExpectedStep => ({
    status: list.some((task) => task.fail === true) ? 'failed' : 'succeeded',
    values: values(list),
    failing: list.flatMap((task, i) => (task.fail === true ? [i + 1] : [])),
    hooks: ['afterAll'],
    sideHooks: true,
  });
  const steps: Record<string, ExpectedStep> = {
    'fan-pre': leafStep([plan.fan.pre]),
    fan: { status: 'succeeded', values: values([...plan.fan.tasks, ...plan.fan.extra]), failing: [], hooks: ['beforeAll', 'afterAll'], sideHooks: true },
    'fan-mid': leafStep([plan.fan.mid]),
    'fan-post': leafStep(plan.fan.post),
    left: workStep(plan.left),
    right: workStep(plan.right),
    join: ok
      ? { status: 'succeeded', values: [sum(plan.left) + sum(plan.right)], failing: [], hooks: ['beforeAll', 'afterAll'], sideHooks: false }
      : { status: 'skipped', values: [], failing: [], hooks: [], sideHooks: false },
  };
  if (plan.variant === 'handled') steps.rescue = workStep(plan.rescue);
  return { status: plan.variant === 'unhandled' ? 'failed' : 'succeeded', steps };
}

export function buildWorkflow(plan: Plan): WorkFlow {
  const options: Partial<StepOptions> = { taskConcurrency: plan.concurrency, taskMaxFailCount: MAX_ATTEMPTS, maxNodeLosses: MAX_NODE_LOSSES };
  const workflow = WorkFlow.create('chaos', options)
    .addStep({ name: 'fan', step: fan, data: plan.fan, tasks: [] })
    .addStep({ name: 'left', step: worker, tasks: plan.left, data: { hookMs: plan.hookMs.left }, dependsOn: ['fan'] })
    .addStep({ name: 'right', step: worker, tasks: plan.right, data: { hookMs: plan.hookMs.right }, dependsOn: ['fan'] })
    .addStep({ name: 'join', step: join, data: { ms: plan.joinMs, hookMs: plan.hookMs.join }, dependsOn: ['left', 'right'] });
  if (plan.variant === 'handled') {
    workflow.addStep({ name: 'rescue', step: worker, tasks: plan.rescue, data: { hookMs: plan.hookMs.rescue }, dependsOn: ['right'], when: 'failure' });
  }
  return workflow;
}
