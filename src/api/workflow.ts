/**
 * WorkFlow: builds a workflow (DeFlow-compatible `create().addStep().run()`), and is a handle
 * on a stored one (`getById`, `getByName`): events and `done()` work in any process holding a
 * handle, whichever process created the workflow or runs its tasks (following a run is
 * workflow-follower.ts's job).
 *
 * Handle phases:  draft -> starting -> started   (draft -> failed when run() cannot start it)
 */
import type { Backend } from '../backends/backend.js';
import type { WorkflowRecord, WorkflowStatus } from '../backends/records.js';
import type { WorkerNode } from '../engine/node.js';
import { NotFoundError, ValidationError, WorkflowDefinitionError } from '../errors.js';
import { checkKnownKeys, checkNoNul, checkObject, describe, integer, nonEmptyString } from '../option-checks.js';
import { DeFlow } from './deflow.js';
import { toWorkflowEvent } from './events.js';
import type { EmitOptions, WorkflowEvent } from './events.js';
import { planDependencies } from './graph.js';
import { controlRun } from './run-control.js';
import { signalWorkflow } from './signals.js';
import { checkWorkflowOptions, publicRateLimit } from './options.js';
import type { ResolvedWorkflowOptions, WorkflowOptions } from './options.js';
import { checkRateLimitsSet } from './rate-limit-check.js';
import { warnUnservedQueues } from './queue-check.js';
import { loadWorkflowResult } from './results.js';
import type { WorkflowResult } from './results.js';
import { stepFromRecord } from './step.js';
import type { Step } from './step.js';
import type { Task } from './task.js';
import { buildSteps, draftStep, newWorkflowId } from './workflow-definition.js';
import type { AddStepParams, DraftStep } from './workflow-definition.js';
import { checkEventName } from './workflow-events.js';
import { checkSameWorkflow, checkWorkflowKey } from './workflow-identity.js';
import type { WorkflowEventMap } from './workflow-events.js';
import { WorkflowFollower } from './workflow-follower.js';
import { retryStored } from './workflow-retry.js';
import type { RetryOptions } from './workflow-retry.js';
import { TERMINAL, announceRemoved, unfinishedByName, warnAboutScriptHandlers } from './workflow-notices.js';

export type { AddStepParams } from './workflow-definition.js';
export type { RetryOptions } from './workflow-retry.js';
export { WorkflowCancelledError, WorkflowFailedError } from './workflow-events.js';
export type { NextTaskInfo, StepFinishedInfo, WorkflowEventMap } from './workflow-events.js';

/** Where a handle is: being defined, being stored by run(), stored (running or finished), or failed to start. */
export type WorkflowHandleState = 'draft' | 'starting' | 'started' | 'failed';
type Phase = WorkflowHandleState;

const WORKFLOW_STATUSES: readonly WorkflowStatus[] = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];

/** How many times a start whose id was taken tries again when the workflow holding it is removed meanwhile. */
const CREATE_ATTEMPTS = 3;

export class WorkFlow {
  readonly id: string;
  readonly name: string;
  /** The business key it was created with (`WorkFlow.create(name, { key })`), or null. */
  readonly key: string | null;
  readonly options: WorkflowOptions;
  /** Last known status. */
  status: WorkflowStatus;
  readonly #resolvedOptions: ResolvedWorkflowOptions;
  readonly #drafts: DraftStep[] = [];
  readonly #follower: WorkflowFollower;
  #phase: Phase;
  #deflow: DeFlow | null = null;
  #starting: Promise<void> | null = null;
  #created: boolean | undefined;
  /** Whoever started it hears a failure to start (DeFlow.start's promise): no warning then. */
  #heard = false;

  private constructor(id: string, name: string, options: WorkflowOptions, resolved: ResolvedWorkflowOptions, phase: Phase, status: WorkflowStatus) {
    this.id = id;
    this.name = name;
    this.key = resolved.key;
    this.options = options;
    this.#resolvedOptions = resolved;
    this.#phase = phase;
    this.status = status;
    this.#follower = new WorkflowFollower({
      id,
      isStarted: () => this.#phase === 'started',
      registration: () => (this.#deflow ??= DeFlow.getInstance()),
      statusRead: (read) => {
        this.status = read;
      },
    });
  }

  /** Starts the definition of a workflow; nothing is stored until run(). */
  static create(name: string, options: WorkflowOptions = {}): WorkFlow {
    if (typeof name !== 'string' || name.trim().length === 0) {
      throw new ValidationError(`WorkFlow.create() needs a non-empty name, got ${describe(name)}`);
    }
    checkNoNul(name, 'WorkFlow.create() name');
    const resolved = checkWorkflowOptions(options);
    return new WorkFlow(resolved.id ?? newWorkflowId(name), name, { ...options }, resolved, 'draft', 'pending');
  }

  /**
   * @internal Starts a draft a workflow definition built, under the id and key its start was
   * given (DeFlow.start); the draft itself is used up. Resolves once stored; a failure to start
   * reaches the caller through the promise (and done()), without a warning of its own.
   */
  static startDraft(draft: WorkFlow, identity: { id?: string; key?: string }): Promise<WorkFlow> {
    if (draft.#phase !== 'draft') throw new ValidationError(`workflow ${draft.id} already runs: a workflow definition must return a WorkFlow without calling run()`);
    let handle = draft;
    if (identity.id !== undefined || identity.key !== undefined) {
      const options: WorkflowOptions = { ...draft.options, ...identity };
      const resolved: ResolvedWorkflowOptions = { ...draft.#resolvedOptions, id: identity.id ?? draft.id, key: identity.key ?? draft.key };
      handle = new WorkFlow(resolved.id ?? draft.id, draft.name, options, resolved, 'draft', 'pending');
      handle.#drafts.push(...draft.#drafts);
      draft.#drafts.length = 0;
    }
    handle.#heard = true;
    return handle.run().started();
  }

  /** A handle on a stored workflow, or null when it does not exist. */
  static async getById(id: string): Promise<WorkFlow | null> {
    checkNoNul(nonEmptyString(id, 'WorkFlow.getById() id'), 'WorkFlow.getById() id');
    const deflow = DeFlow.getInstance();
    const { backend } = await deflow.services();
    const record = await backend.getWorkflow(id);
    return record === null ? null : WorkFlow.#fromRecord(record, deflow);
  }

  /** Handles on every stored workflow with this name, newest first. */
  static async getByName(name: string, limit = 1000): Promise<WorkFlow[]> {
    checkNoNul(nonEmptyString(name, 'WorkFlow.getByName() name'), 'WorkFlow.getByName() name');
    integer(limit, 'WorkFlow.getByName() limit', 1);
    const deflow = DeFlow.getInstance();
    const { backend } = await deflow.services();
    const records = await backend.listWorkflows({ name, limit });
    return records.map((record) => WorkFlow.#fromRecord(record, deflow));
  }

  /** Handles on every stored workflow with this business key, newest first (`status`: only those in it). */
  static async getByKey(key: string, options: { status?: WorkflowStatus; limit?: number } = {}): Promise<WorkFlow[]> {
    checkWorkflowKey(key, 'WorkFlow.getByKey() key');
    const query = checkObject(options, 'WorkFlow.getByKey() options');
    checkKnownKeys(query, ['status', 'limit'], 'WorkFlow.getByKey() options');
    const limit = integer(options.limit ?? 1000, 'WorkFlow.getByKey() options.limit', 1);
    if (options.status !== undefined && !WORKFLOW_STATUSES.includes(options.status)) {
      throw new ValidationError(`WorkFlow.getByKey() options.status must be one of ${WORKFLOW_STATUSES.join(', ')}, got ${describe(options.status)}`);
    }
    const deflow = DeFlow.getInstance();
    const { backend } = await deflow.services();
    const records = await backend.listWorkflows({ key, limit, ...(options.status === undefined ? {} : { status: options.status }) });
    return records.map((record) => WorkFlow.#fromRecord(record, deflow));
  }

  static #fromRecord(record: WorkflowRecord, deflow: DeFlow): WorkFlow {
    const stored = record.options;
    const options: WorkflowOptions = {
      ...publicRateLimit(stored.stepDefaults),
      cleanOnDone: stored.cleanOnDone,
      retention: stored.retentionMs ?? Infinity,
      ...(record.key === null ? {} : { key: record.key }),
    };
    const handle = new WorkFlow(record.id, record.name, options, { stored, replaceByName: false, id: record.id, key: record.key }, 'started', record.status);
    handle.#deflow = deflow;
    return handle;
  }

  /** draft (before run()), starting, started (stored: running or finished), failed (could not start). */
  get state(): WorkflowHandleState {
    return this.#phase;
  }

  /**
   * Did this handle's run() create the workflow (true), or find it already stored under its id
   * (false: an idempotent start, the handle follows the existing one)? Undefined until stored,
   * and for handles from getById / getByName / getByKey.
   */
  get created(): boolean | undefined {
    return this.#created;
  }

  /** DeFlow compatibility: `workflow.events.on(...)`. */
  get events(): this {
    return this;
  }

  /** Adds a step. Without `dependsOn` it runs after the step added before it. */
  addStep<SD = unknown, TD = unknown, TR = unknown>(params: AddStepParams<SD, TD, TR>): this {
    if (this.#phase !== 'draft') throw new ValidationError(`workflow ${this.id} already runs: add steps before run(), or use step.addAfter() from a handler`);
    // Before register() the step directories are not known yet: run() checks the module then.
    const registered = DeFlow.current;
    const stepDirs = registered === null || registered.state === 'closing' || registered.state === 'closed' ? undefined : registered.options.stepDirs;
    this.#drafts.push(draftStep(params, `addStep() #${this.#drafts.length + 1} of workflow "${this.name}"`, stepDirs));
    return this;
  }

  /**
   * Stores the workflow and starts it. Returns at once (chainable, as in DeFlow): follow it
   * with `done()`, `started()` or events. A bad graph (cycle, unknown dependency) throws here.
   */
  run(): this {
    if (this.#phase !== 'draft') throw new ValidationError(`run() was already called for workflow ${this.id}`);
    if (this.#drafts.length === 0) {
      throw new WorkflowDefinitionError(`workflow "${this.name}" has no steps: add at least one with addStep() before run()`);
    }
    const deps = planDependencies(
      this.name,
      this.#drafts.map((draft) => ({ name: draft.name, dependsOn: draft.dependsOn, when: draft.when })),
    );
    this.#deflow = DeFlow.getInstance();
    this.#phase = 'starting';
    this.#starting = this.#start(this.#deflow, deps);
    this.#starting.catch(() => undefined);
    return this;
  }

  /** Resolves once the workflow is stored and its first steps are runnable. */
  async started(): Promise<this> {
    if (this.#phase === 'draft') throw new ValidationError(`workflow ${this.id} was not started: call run() first`);
    await this.#starting;
    return this;
  }

  /**
   * Resolves with the result when the workflow succeeds; rejects with a WorkflowFailedError
   * (its `result` holds the steps and tasks) when it fails or is cancelled.
   */
  done(): Promise<WorkflowResult> {
    if (this.#phase === 'draft') return Promise.reject(new ValidationError(`workflow ${this.id} was not started: call run() before done()`));
    return this.#follower.done();
  }

  /**
   * Runs a finished workflow again: failed work gets fresh attempts, steps that depend on it are
   * evaluated again, succeeded work is kept (docs/api.md#retry). `from`: that step and every step
   * after it run again from scratch. `step` + `failedOnly`: only that step's failed tasks.
   * Rejects with a NotRetryableError while it still runs. `done()` then follows the new outcome.
   */
  async retry(options?: RetryOptions): Promise<this> {
    const { backend } = await this.#services();
    const { retries } = await retryStored(backend, this.id, options, 'workflow.retry()');
    this.status = 'running';
    this.#follower.retried(retries);
    return this;
  }

  /**
   * Steps in execution order, each with its summary and (up to the register option `resultTasks`
   * per step) its tasks; works while running, too.
   */
  async results(): Promise<WorkflowResult> {
    const { backend } = await this.#services();
    const record = await backend.getWorkflow(this.id);
    if (record === null) throw new NotFoundError(`workflow ${this.id} does not exist (it finished and was removed, or never started)`);
    this.status = record.status;
    return loadWorkflowResult(backend, record, (this.#deflow ?? DeFlow.getInstance()).options.resultTasks);
  }

  /** Current stored state of the workflow (status, error, timestamps). */
  async refresh(): Promise<WorkflowRecord> {
    const { backend } = await this.#services();
    const record = await backend.getWorkflow(this.id);
    if (record === null) throw new NotFoundError(`workflow ${this.id} does not exist`);
    this.status = record.status;
    return record;
  }

  /** The stored steps, in execution order. */
  async getSteps(): Promise<Step[]> {
    const { backend } = await this.#services();
    return (await backend.getSteps(this.id)).map((record) => stepFromRecord(record, backend));
  }

  /** A step by name (first match) or id. */
  async getStep(nameOrId: string): Promise<Step | undefined> {
    const steps = await this.getSteps();
    return steps.find((step) => step.name === nameOrId) ?? steps.find((step) => step.id === nameOrId);
  }

  /**
   * A step's tasks in task order (by name or id, or a StepResult of done()), read from the store
   * a page at a time: the way through a step too big for `result.steps[i].tasks`.
   */
  async *iterateResults(step: string | { id: string }, pageSize?: number): AsyncGenerator<Task, void, undefined> {
    const found = typeof step === 'string' ? await this.getStep(step) : (await this.getSteps()).find((s) => s.id === step.id);
    if (found === undefined) throw new NotFoundError(`workflow ${this.id} has no step ${typeof step === 'string' ? step : step.id}`);
    yield* found.iterateResults(pageSize);
  }

  /**
   * Removes the workflow and all its steps and tasks from the backend. Handles still waiting
   * for it to finish (in any process) reject with a NotFoundError.
   */
  async clean(): Promise<void> {
    const { backend } = await this.#services();
    const record = await backend.getWorkflow(this.id);
    const removed = await backend.removeWorkflow(this.id);
    if (removed && record !== null && !TERMINAL.includes(record.status)) await announceRemoved(backend, [this.id]);
  }

  /**
   * Cancels the workflow (DeFlow.cancel): true when it was cancelled now, false when it had
   * already finished. `done()` then rejects with a WorkflowCancelledError in every process.
   */
  async cancel(reason?: string): Promise<boolean> {
    const { backend } = await this.#services();
    const changed = await controlRun(backend, 'workflow.cancel()', this.id, 'cancel', reason);
    if (changed) this.status = 'cancelled';
    return changed;
  }

  /** Pauses the workflow (DeFlow.pause): nothing new is claimed; false when it is not running. */
  async pause(): Promise<boolean> {
    const { backend } = await this.#services();
    const changed = await controlRun(backend, 'workflow.pause()', this.id, 'pause');
    if (changed) this.status = 'paused';
    return changed;
  }

  /** Resumes a paused workflow (DeFlow.resume); false when it is not paused. */
  async resume(): Promise<boolean> {
    const { backend } = await this.#services();
    const changed = await controlRun(backend, 'workflow.resume()', this.id, 'resume');
    if (changed) this.status = 'running';
    return changed;
  }

  /**
   * Sends an event to this workflow: its steps waiting for it start. Resolves true when it
   * counted, false when the workflow finished or already received an event with this id.
   */
  async signal(name: string, data?: unknown, options?: EmitOptions): Promise<boolean> {
    const { backend, node } = await this.#services();
    return signalWorkflow(backend, this.id, name, data, options, 'workflow.signal()', node);
  }

  /** Events the workflow received, in arrival order. */
  async getEvents(): Promise<WorkflowEvent[]> {
    const { backend } = await this.#services();
    return (await backend.getEvents(this.id)).map((record) => toWorkflowEvent(record));
  }

  on<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): this {
    checkEventName(event, 'workflow.on()');
    this.#follower.on(event, listener);
    return this;
  }

  once<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): this {
    checkEventName(event, 'workflow.once()');
    this.#follower.once(event, listener);
    return this;
  }

  off<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): this {
    checkEventName(event, 'workflow.off()');
    this.#follower.off(event, listener);
    return this;
  }

  removeListener<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): this {
    return this.off(event, listener);
  }

  listenerCount(event: keyof WorkflowEventMap): number {
    checkEventName(event, 'workflow.listenerCount()');
    return this.#follower.listenerCount(event);
  }

  toJSON(): Record<string, unknown> {
    return { id: this.id, name: this.name, key: this.key, status: this.status, options: this.options };
  }

  // --- internals --------------------------------------------------------------------------------

  async #services(): Promise<{ backend: Backend; node: WorkerNode }> {
    if (this.#phase === 'draft') throw new ValidationError(`workflow ${this.id} was not started: call run() first`);
    await this.#starting;
    return (this.#deflow ?? DeFlow.getInstance()).services();
  }

  async #start(deflow: DeFlow, deps: ReturnType<typeof planDependencies>): Promise<void> {
    try {
      await deflow.accept((services) => this.#store(deflow, deps, services));
    } catch (thrown) {
      this.#phase = 'failed';
      this.status = 'failed';
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      this.#follower.failed(error, this.#heard);
      throw error;
    }
  }

  async #store(deflow: DeFlow, deps: ReturnType<typeof planDependencies>, services: { backend: Backend; node: WorkerNode }): Promise<void> {
    const { backend, node } = services;
    // Listen before the workflow exists, so no event of a quick run is missed.
    if (this.#follower.wanted) this.#follower.subscribe(deflow, node.hub, backend);
    const steps = await buildSteps(this.name, this.#drafts, deps, this.#resolvedOptions.stored.stepDefaults, deflow.options.stepDirs);
    await checkRateLimitsSet(backend, this.name, steps);
    await warnUnservedQueues(backend, this.name, steps, deflow.options.worker ? deflow.options.queues : []);
    this.#drafts.length = 0;
    if (!deflow.options.worker) warnAboutScriptHandlers(this.name, steps);
    const replaced = this.#resolvedOptions.replaceByName ? (await unfinishedByName(backend, this.name)).filter((id) => id !== this.id) : [];
    const workflow = {
      id: this.id,
      name: this.name,
      key: this.key,
      options: this.#resolvedOptions.stored,
      steps,
      watchNextTask: this.#follower.watchesNextTask,
      replaceByName: this.#resolvedOptions.replaceByName,
    };
    for (let attempt = 1; ; attempt++) {
      const { created } = await backend.createWorkflow(workflow);
      if (created) {
        if (replaced.length > 0) await announceRemoved(backend, replaced);
        this.#created = true;
        this.status = 'running';
        break;
      }
      // The id is taken: this start attaches to the workflow holding it, if it is the same one.
      const existing = await backend.getWorkflow(this.id);
      if (existing !== null) {
        checkSameWorkflow(existing, this);
        this.#created = false;
        this.status = existing.status;
        break;
      }
      // Removed since (retention, clean()): the id is free again.
      if (attempt >= CREATE_ATTEMPTS) throw new NotFoundError(`workflow ${this.id} exists and was removed ${attempt} times while this start tried to create it; try again`);
    }
    this.#phase = 'started';
    if (this.#follower.wanted) this.#follower.follow();
  }
}
