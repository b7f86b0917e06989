/**
 * The definition half of a WorkFlow: checking what addStep received (at the call), and turning
 * the drafts into the steps a backend stores once run() loaded their modules.
 */
import { taskBuckets as taskBucketsOf, taskRateBuckets as taskRateBucketsOf } from '../engine/concurrency-key.js';
import { randomBytes } from 'node:crypto';
import type { NewStep } from '../backends/backend.js';
import type { DependencyCondition, ResolvedStepOptions, StepDependency, StoredWorkflowOptions } from '../backends/records.js';
import { ValidationError } from '../errors.js';
import { checkKnownKeys, checkNoNul, checkObject, describe } from '../option-checks.js';
import { toJson } from '../engine/json.js';
import { checkWaitFor, checkWaitTimeout } from './events.js';
import { declaredStepId } from './graph.js';
import { checkStepOptions, resolveStepOptions } from './options.js';
import type { StepOptions } from './options.js';
import { STEP_TIMER_KEYS, checkStepTimer } from './step-timer.js';
import type { StepTimer, StepTimerParams } from './step-timer.js';
import { isStepHandler } from './step-handler.js';
import { checkStepSource, resolveStepSource } from './step-source.js';
import type { StepSource } from './step-source.js';

export interface AddStepParams<SD = unknown, TD = unknown, TR = unknown> extends StepTimerParams {
  step: StepSource<SD, TD, TR>;
  /** Name other steps use in `dependsOn`; default: the handler's name. */
  name?: string;
  tasks?: TD[];
  data?: SD;
  options?: Partial<StepOptions>;
  /** Steps this one waits for; default: the step added just before (DeFlow chain). `[]` starts it at once. */
  dependsOn?: string[];
  /** Run when the steps it depends on all succeeded (default), when one failed, or always. */
  when?: DependencyCondition;
  /**
   * Events the step waits for before it starts, beside `dependsOn` (step.emit, workflow.signal,
   * DeFlow.emit). An event that arrived earlier counts. With `dependsOn: []`: a join on events.
   */
  waitFor?: readonly string[];
  /** Milliseconds it waits for them once its dependencies are done; then it fails with a TimeoutError. Default: forever. */
  waitTimeout?: number;
}

/** A step as addStep received it, checked, with its payloads already serialized. */
export interface DraftStep {
  source: unknown;
  name: string | undefined;
  tasksJson: string[] | undefined;
  dataJson: string | undefined;
  options: Partial<StepOptions> | undefined;
  dependsOn: string[] | undefined;
  when: DependencyCondition;
  timer: StepTimer;
  wait: EventWait;
}

/** waitFor / waitTimeout as the step options store them (empty when the step waits for nothing). */
export type EventWait = Pick<ResolvedStepOptions, 'waitFor' | 'waitTimeout'>;

const ADD_STEP_KEYS = ['step', 'name', 'tasks', 'data', 'options', 'dependsOn', 'when', 'waitFor', 'waitTimeout', ...STEP_TIMER_KEYS];
const WHEN_VALUES: readonly DependencyCondition[] = ['success', 'failure', 'always'];

/**
 * Checks addStep's params (throwing at the call) and serializes its payloads. `stepDirs`: those
 * of the process's registration, undefined before register().
 */
export function draftStep<SD, TD, TR>(params: AddStepParams<SD, TD, TR>, where: string, stepDirs?: readonly string[]): DraftStep {
  const raw = checkObject(params, where);
  checkKnownKeys(raw, ADD_STEP_KEYS, where);
  checkStepSource(params.step, where, stepDirs);
  if (params.name !== undefined && (typeof params.name !== 'string' || params.name.length === 0)) {
    throw new ValidationError(`${where}: name must be a non-empty string, got ${describe(params.name)}`);
  }
  if (params.name !== undefined) checkNoNul(params.name, `${where}: name`);
  if (params.tasks !== undefined && !Array.isArray(params.tasks)) throw new ValidationError(`${where}: tasks must be an array, got ${describe(params.tasks)}`);
  if (params.dependsOn !== undefined && (!Array.isArray(params.dependsOn) || params.dependsOn.some((d) => typeof d !== 'string'))) {
    throw new ValidationError(`${where}: dependsOn must be an array of step names`);
  }
  params.dependsOn?.forEach((dep, i) => checkNoNul(dep, `${where}: dependsOn[${i}]`));
  const when = params.when ?? 'success';
  if (!WHEN_VALUES.includes(when)) throw new ValidationError(`${where}: when must be "success", "failure" or "always", got ${describe(when)}`);
  return {
    wait: checkEventWait(params, where),
    source: params.step,
    name: params.name ?? (isStepHandler(params.step) ? params.step.name : undefined),
    tasksJson: params.tasks?.map((task, i) => toJson(task, `${where}: task data at index ${i}`)),
    dataJson: params.data === undefined ? undefined : toJson(params.data, `${where}: step data`),
    options: params.options === undefined ? undefined : checkStepOptions(params.options, `${where} options`),
    dependsOn: params.dependsOn,
    when,
    timer: checkStepTimer(params, where),
  };
}

/** Checks waitFor / waitTimeout of addStep or addAfter. */
export function checkEventWait(params: { waitFor?: unknown; waitTimeout?: unknown }, where: string): EventWait {
  const waitFor = checkWaitFor(params.waitFor, where);
  const waitTimeout = checkWaitTimeout(params.waitTimeout, where);
  if (waitTimeout !== undefined && (waitFor === undefined || waitFor.length === 0)) {
    throw new ValidationError(`${where}: waitTimeout needs waitFor (the events the step waits for)`);
  }
  if (waitFor === undefined || waitFor.length === 0) return {};
  return waitTimeout === undefined ? { waitFor } : { waitFor, waitTimeout };
}

/** Loads each draft's module and builds the steps to store, with handler defaults applied. */
export async function buildSteps(
  workflowName: string,
  drafts: readonly DraftStep[],
  deps: readonly StepDependency[][],
  stepDefaults: StoredWorkflowOptions['stepDefaults'],
  stepDirs: readonly string[],
): Promise<NewStep[]> {
  const steps: NewStep[] = [];
  for (const [index, draft] of drafts.entries()) {
    const where = `step #${index + 1} of workflow "${workflowName}"`;
    const { handler, ref } = await resolveStepSource(draft.source, where, stepDirs);
    const options = { ...resolveStepOptions(stepDefaults, handler.options, draft.options), ...draft.wait };
    const tasksJson = draft.tasksJson ?? (handler.tasks ?? []).map((task, i) => toJson(task, `${where}: task data at index ${i}`));
    const taskBuckets = taskBucketsOf(ref, options, tasksJson);
    const taskRateBuckets = taskRateBucketsOf(options, tasksJson);
    steps.push({
      id: declaredStepId(index),
      name: draft.name ?? handler.name,
      handler: ref,
      dataJson: draft.dataJson ?? toJson(handler.data ?? null, `${where}: step data`),
      options,
      deps: deps[index] ?? [],
      tasksJson,
      ...(taskBuckets === undefined ? {} : { taskBuckets }),
      ...(taskRateBuckets === undefined ? {} : { taskRateBuckets }),
      ...draft.timer,
    });
  }
  return steps;
}

/** A readable, unique workflow id: "<name slug>-<12 random characters>". */
export function newWorkflowId(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `${slug.length > 0 ? slug : 'workflow'}-${randomBytes(6).toString('base64url').replace(/[-_]/g, 'x')}`;
}
