/**
 * Step: what a StepHandler's methods receive, and what reads of a workflow return.
 * Inside a lifecycle method it can grow the workflow: `addTasks` appends tasks to this step,
 * `addAfter` inserts a step right after the phase that called it.
 */
import { taskBuckets, taskRateBuckets } from '../engine/concurrency-key.js';
import { createHash } from 'node:crypto';
import type { Backend, NewStep, RunnableStep } from '../backends/backend.js';
import type { StepRecord, StepStatus } from '../backends/records.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { checkKnownKeys, checkNoNul, checkObject, integer, nonEmptyString } from '../option-checks.js';
import type { SerializedError } from '../errors.js';
import { toJson } from '../engine/json.js';
import type { JobContext } from '../engine/handler-contract.js';
import { noteEventsDelivered } from './telemetry.js';
import { jobEventId, newEvent, randomEventId, toWorkflowEvent } from './events.js';
import type { EmitOptions, WorkflowEvent } from './events.js';
import { checkStepOptions, resolveStepOptions, toStepOptions } from './options.js';
import { STEP_TIMER_KEYS, addTasksDelay, checkStepTimer } from './step-timer.js';
import type { AddTasksOptions } from './step-timer.js';
import type { StepTimerParams } from './step-timer.js';
import type { StepOptions } from './options.js';
import { trackAttemptCall } from './attempt-calls.js';
import { identityOf } from './step-identity.js';
import type { StepFields, StepIdentity } from './step-identity.js';
import { resolveStepSource } from './step-source.js';
import { checkEventWait } from './workflow-definition.js';
import type { StepSource } from './step-source.js';
import { Task } from './task.js';
import { LARGE_STEP } from './step-summary.js';
import type { WorkFlow } from './workflow.js';

export interface StepProgress {
  /** Finished tasks (succeeded or failed for good). */
  done: number;
  /** Tasks that failed for good. */
  failed: number;
  total: number;
  /** DeFlow format: "33.33% - 1/3". */
  percent: string;
}

export interface AddAfterParams<SD, TD, TR> extends StepTimerParams {
  step: StepSource<SD, TD, TR>;
  name?: string;
  tasks?: TD[];
  data?: SD;
  options?: Partial<StepOptions>;
  /** Events the added step waits for before it starts (see addStep's waitFor). */
  waitFor?: readonly string[];
  /** Milliseconds it waits for them; then it fails with a TimeoutError (and so does this step). */
  waitTimeout?: number;
}

const ADD_AFTER_KEYS = ['step', 'name', 'tasks', 'data', 'options', 'waitFor', 'waitTimeout', ...STEP_TIMER_KEYS];
const RESULT_PAGE = 1000;
const warnedLarge = new Set<string>();

/** Once per step and process: a warning on every call would bury the log of a polling caller. */
function warnLarge(workflowId: string, stepId: string, count: number): void {
  const key = `${workflowId}:${stepId}`;
  if (warnedLarge.has(key) || warnedLarge.size > 1000) return;
  warnedLarge.add(key);
  process.emitWarning(
    `getResults() loads all ${count} tasks of step ${stepId} of workflow ${workflowId} at once: iterate them with step.iterateResults() or workflow.iterateResults() to hold one page at a time`,
    { type: 'DeflowWarning', code: 'DEFLOW_LARGE_RESULTS' },
  );
}

/** Per step a node runs, its identity is made once, not once per task. */
const identities = new WeakMap<RunnableStep, StepIdentity>();

export class Step<SD = unknown, TD = unknown, TR = unknown> {
  readonly #identity: StepIdentity;
  #taskCount: number;
  readonly #backend: Backend;
  readonly #context: JobContext | null;

  /** @internal */
  constructor(fields: StepFields | { identity: StepIdentity; taskCount: number }, backend: Backend, context: JobContext | null) {
    if ('identity' in fields) {
      this.#identity = fields.identity;
      this.#taskCount = fields.taskCount;
    } else {
      this.#identity = identityOf(fields);
      this.#taskCount = fields.taskCount;
    }
    this.#backend = backend;
    this.#context = context;
  }

  get id(): string {
    return this.#identity.id;
  }

  get name(): string {
    return this.#identity.name;
  }

  /** Execution order within the workflow (0-based); -1 until the step's tasks begin. */
  get index(): number {
    return this.#identity.index;
  }

  get options(): StepOptions {
    return this.#identity.options;
  }

  get workflowId(): string {
    return this.#identity.workflowId;
  }

  /** `<workflowId>:<stepId>` */
  get key(): string {
    return this.#identity.key;
  }

  /** Key of the step whose hook or handler added this one with addAfter. */
  get parentKey(): string | undefined {
    return this.#identity.parentKey;
  }

  /** waiting | running | succeeded | failed | skipped (as of when this object was made). */
  get status(): StepStatus {
    return this.#identity.status;
  }

  get error(): SerializedError | null {
    return this.#identity.error;
  }

  /** Tasks of the step (as of when this object was made; addTasks and getProgress keep it current). */
  get taskCount(): number {
    return this.#taskCount;
  }

  set taskCount(value: number) {
    this.#taskCount = value;
  }

  /** The step's data. Shared by the tasks a node runs: treat it as read-only. */
  get data(): SD {
    return this.#identity.data as SD;
  }

  /**
   * The events this step waited for (its `waitFor`), the first of each name in `waitFor` order;
   * empty for a step that waits for none, and outside a running job.
   */
  get events(): WorkflowEvent[] {
    return (this.#context?.step.events ?? []).map((record) => toWorkflowEvent(record));
  }

  /**
   * Emits an event to this step's workflow (from any lifecycle method): steps waiting for it
   * start. Counts once per workflow and id; without an id, one derived from this job and the
   * call's position in it, so a hook re-run after a crash emits nothing twice.
   */
  emit(name: string, data?: unknown, options?: EmitOptions): Promise<void> {
    return this.#track('emit', () => this.#emit(name, data, options));
  }

  async #emit(name: string, data: unknown, options: EmitOptions | undefined): Promise<void> {
    const context = this.#context;
    const event = newEvent(name, data, options, 'step.emit()', () => (context === null ? randomEventId() : jobEventId(context, context.calls++)));
    const { delivered } = await this.#backend.deliverEvent(this.workflowId, event);
    if (delivered) noteEventsDelivered(event.name, 1);
  }

  /**
   * Appends tasks to this step (from beforeAll, or from handler while the tasks run). With
   * `delay`: no added task starts before `delay` ms after the call, by the backend's clock.
   */
  addTasks(tasks: TD[], options?: AddTasksOptions): Promise<void> {
    return this.#track('addTasks', () => this.#addTasks(tasks, options));
  }

  async #addTasks(tasks: TD[], options: AddTasksOptions | undefined): Promise<void> {
    if (!Array.isArray(tasks)) throw new ValidationError('step.addTasks() takes an array of task data');
    const delayMs = addTasksDelay(options);
    const tasksJson = tasks.map((task, i) => toJson(task, `step.addTasks(): task data at index ${i}`));
    const context = this.#context;
    const batchKey = context === null ? undefined : `${context.job.kind}:${context.job.seq}:${context.calls++}`;
    const taskBuckets = await this.#bucketsOf(tasksJson);
    const rateBuckets = taskRateBuckets(this.#identity.options, tasksJson);
    const { total } = await this.#backend.addTasks({
      workflowId: this.workflowId,
      stepId: this.id,
      tasksJson,
      ...(taskBuckets === undefined ? {} : { taskBuckets }),
      ...(rateBuckets === undefined ? {} : { taskRateBuckets: rateBuckets }),
      ...(batchKey === undefined ? {} : { batchKey }),
      ...(delayMs > 0 ? { delayMs } : {}),
    });
    this.taskCount = total;
  }

  /** Concurrency buckets of new tasks of this step (a step without concurrencyKey has none). */
  async #bucketsOf(tasksJson: readonly string[]): Promise<(string | null)[] | undefined> {
    if (this.#identity.options.concurrencyKey === undefined) return undefined;
    const handler = this.#context?.step.handler ?? (await this.#backend.getStep(this.workflowId, this.id))?.handler;
    if (handler === undefined) throw new NotFoundError(`step "${this.id}" of workflow ${this.workflowId} does not exist (was the workflow removed?)`);
    return taskBuckets(handler, this.#identity.options, tasksJson);
  }

  /**
   * Inserts a step that runs right after the phase calling it: from beforeAll, before this
   * step's tasks; from handler, after the tasks and before afterAll; from afterAll, right
   * after this step. Several calls run in call order.
   */
  addAfter<SD2 = unknown, TD2 = unknown, TR2 = unknown>(params: AddAfterParams<SD2, TD2, TR2>): Promise<Step<SD2, TD2, TR2>> {
    return this.#track('addAfter', () => this.#addAfter(params));
  }

  #track<T>(method: string, call: () => Promise<T>): Promise<T> {
    return this.#context === null ? call() : trackAttemptCall(this.#context, `step.${method}()`, this.name, call);
  }

  async #addAfter<SD2, TD2, TR2>(params: AddAfterParams<SD2, TD2, TR2>): Promise<Step<SD2, TD2, TR2>> {
    const context = this.#context;
    if (context === null) {
      throw new ValidationError("step.addAfter() can only be called from the step's beforeAll, handler or afterAll");
    }
    const where = 'step.addAfter()';
    const raw = checkObject(params, where);
    checkKnownKeys(raw, ADD_AFTER_KEYS, where);
    const callOptions = params.options === undefined ? undefined : checkStepOptions(params.options, `${where} options`);
    if (params.tasks !== undefined && !Array.isArray(params.tasks)) throw new ValidationError(`${where}: tasks must be an array`);
    if (params.name !== undefined) checkNoNul(nonEmptyString(params.name, `${where}: name`), `${where}: name`);
    const timer = checkStepTimer(params, where);
    const wait = checkEventWait(params, where);
    const call = context.calls++;
    // A module file this node would import but no node with the same step directories would.
    const source = await resolveStepSource(params.step, where, context.node.stepDirs);
    const workflow = await this.#backend.getWorkflow(this.workflowId);
    if (workflow === null) throw new NotFoundError(`workflow ${this.workflowId} does not exist any more`);
    const tasks = params.tasks ?? (source.handler.tasks as TD2[] | undefined) ?? [];
    const data = params.data ?? source.handler.data ?? null;
    const options = { ...resolveStepOptions(workflow.options.stepDefaults, source.handler.options, callOptions), ...wait };
    const newStep: NewStep = {
      id: addedStepId(this.workflowId, this.id, context, call),
      name: params.name ?? source.handler.name,
      handler: source.ref,
      dataJson: toJson(data, `${where}: step data`),
      options,
      deps: [],
      tasksJson: tasks.map((task, i) => toJson(task, `${where}: task data at index ${i}`)),
      ...timer,
    };
    const buckets = taskBuckets(source.ref, options, newStep.tasksJson);
    if (buckets !== undefined) newStep.taskBuckets = buckets;
    const rateBuckets = taskRateBuckets(options, newStep.tasksJson);
    if (rateBuckets !== undefined) newStep.taskRateBuckets = rateBuckets;
    await this.#backend.addAnchoredSteps({
      workflowId: this.workflowId,
      anchorStepId: this.id,
      phase: context.job.kind,
      steps: [newStep],
    });
    return new Step<SD2, TD2, TR2>(
      {
        workflowId: this.workflowId,
        id: newStep.id,
        name: newStep.name,
        index: -1,
        dataJson: newStep.dataJson,
        taskCount: tasks.length,
        options: toStepOptions(options),
        parentId: this.id,
        status: 'waiting',
        error: null,
      },
      this.#backend,
      null,
    );
  }

  /** Finished and total task counts, DeFlow-formatted percent included. */
  async getProgress(): Promise<StepProgress> {
    const record = await this.#record();
    const done = record.counts.done + record.counts.failed;
    const total = record.counts.total;
    this.taskCount = total;
    return { done, failed: record.counts.failed, total, percent: formatPercent(done, total) };
  }

  /**
   * Every task of the step, in task order, with results and errors. For a step of more than
   * 10,000 tasks a process warning suggests iterateResults(), which holds one page at a time.
   */
  async getResults(): Promise<Task<TD, TR>[]> {
    if (this.taskCount > LARGE_STEP) warnLarge(this.workflowId, this.id, this.taskCount);
    const all: Task<TD, TR>[] = [];
    let afterSeq = 0;
    for (;;) {
      const page = await this.getResultsPage({ afterSeq, limit: RESULT_PAGE });
      for (const task of page) all.push(task);
      const last = page.at(-1);
      if (page.length < RESULT_PAGE || last === undefined) return all;
      afterSeq = last.seq;
    }
  }

  /** One page of tasks in task order: those with `seq` above `afterSeq`. */
  async getResultsPage(page: { afterSeq?: number; limit?: number } = {}): Promise<Task<TD, TR>[]> {
    const records = await this.#backend.getTasks(this.workflowId, this.id, {
      afterSeq: integer(page.afterSeq ?? 0, 'getResultsPage() afterSeq', 0),
      limit: integer(page.limit ?? RESULT_PAGE, 'getResultsPage() limit', 1),
    });
    return records.map((record) => Task.fromRecord<TD, TR>(record));
  }

  /** Tasks in task order, fetched a page at a time: for steps too big to hold at once. */
  async *iterateResults(pageSize = RESULT_PAGE): AsyncGenerator<Task<TD, TR>, void, undefined> {
    integer(pageSize, 'iterateResults() pageSize', 1);
    let afterSeq = 0;
    for (;;) {
      const page = await this.getResultsPage({ afterSeq, limit: pageSize });
      for (const task of page) yield task;
      const last = page.at(-1);
      if (page.length < pageSize || last === undefined) return;
      afterSeq = last.seq;
    }
  }

  /**
   * The step this one follows: its first dependency, else (for a step added with addAfter)
   * the step added just before it, else the step that added it.
   */
  async getPrevious(): Promise<Step | undefined> {
    const steps = await this.#backend.getSteps(this.workflowId);
    const self = steps.find((s) => s.id === this.id);
    if (self === undefined) return undefined;
    let previousId: string | undefined = self.deps[0]?.stepId;
    if (previousId === undefined && self.anchor !== null) {
      const anchor = self.anchor;
      const siblings = steps
        .filter((s) => s.anchor?.stepId === anchor.stepId && s.anchor.phase === anchor.phase && s.anchor.seq < anchor.seq)
        .sort((a, b) => (b.anchor?.seq ?? 0) - (a.anchor?.seq ?? 0));
      previousId = siblings[0]?.id ?? anchor.stepId;
    }
    const previous = steps.find((s) => s.id === previousId);
    return previous === undefined ? undefined : stepFromRecord(previous, this.#backend);
  }

  /** A handle on the workflow this step belongs to. */
  async getWorkflow(): Promise<WorkFlow> {
    // Loaded when called: WorkFlow's module imports this one, and a static import back would
    // make the two load in an order where one sees the other half-initialised.
    const { WorkFlow } = await import('./workflow.js');
    const workflow = await WorkFlow.getById(this.workflowId);
    if (workflow === null) throw new NotFoundError(`workflow ${this.workflowId} does not exist any more`);
    return workflow;
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      key: this.key,
      name: this.name,
      index: this.index,
      data: this.data,
      taskCount: this.taskCount,
      options: this.options,
      workflowId: this.workflowId,
      parentKey: this.parentKey,
      status: this.status,
    };
  }

  async #record(): Promise<StepRecord> {
    const record = await this.#backend.getStep(this.workflowId, this.id);
    if (record === null) throw new NotFoundError(`step ${this.key} does not exist any more (was the workflow removed?)`);
    return record;
  }
}

/** @internal */
export function stepFromRecord(record: StepRecord, backend: Backend): Step {
  return new Step(
    {
      workflowId: record.workflowId,
      id: record.id,
      name: record.name,
      index: record.runIndex === null ? -1 : record.runIndex - 1,
      dataJson: null,
      data: record.data,
      taskCount: record.counts.total,
      options: toStepOptions(record.options),
      parentId: record.parentId,
      status: record.status,
      error: record.error,
    },
    backend,
    null,
  );
}

/** @internal the Step a lifecycle method receives while a job runs. */
export function stepFromContext(context: JobContext): Step {
  const step = context.step;
  let identity = identities.get(step);
  if (identity === undefined) {
    identity = identityOf({
      workflowId: step.workflowId,
      id: step.stepId,
      name: step.name,
      index: step.runIndex - 1,
      dataJson: step.dataJson,
      taskCount: 0,
      options: toStepOptions(step.options),
      parentId: step.parentId,
      status: 'running',
      error: null,
    });
    identities.set(step, identity);
  }
  return new Step({ identity, taskCount: context.taskCount }, context.node.backend, context);
}

export function formatPercent(done: number, total: number): string {
  const percent = total === 0 ? '0' : ((done / total) * 100).toFixed(2);
  return `${percent}% - ${done}/${total}`;
}

/** Same id on every attempt of the same call, so a retried hook does not add the step twice. */
function addedStepId(workflowId: string, stepId: string, context: JobContext, call: number): string {
  const digest = createHash('sha1')
    .update(`${workflowId}|${stepId}|${context.job.kind}|${context.job.seq}|${call}`)
    .digest('base64url');
  return `${stepId.split('.')[0]}.${digest.slice(0, 10)}`;
}
