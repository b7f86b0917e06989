/**
 * WorkFlow: builds a workflow (DeFlow-compatible `create().addStep().run()`), and is a handle
 * on a stored one (`getById`, `getByName`): events and `done()` work in any process holding a
 * handle, whichever process created the workflow or runs its tasks.
 *
 * Handle phases:  draft -> starting -> started   (draft -> failed when run() cannot start it)
 */
import { EventEmitter } from 'node:events';
import type { Backend, BackendEvent } from '../backends/backend.js';
import type { WorkflowRecord, WorkflowStatus } from '../backends/records.js';
import { BackendError, DeflowError, NotFoundError, ValidationError, WorkflowDefinitionError } from '../errors.js';
import { describe, integer } from '../option-checks.js';
import type { EventHub } from '../engine/event-hub.js';
import type { WorkerNode } from '../engine/node.js';
import { DeFlow } from './deflow.js';
import type { RegistrationWatcher } from './deflow.js';
import { planDependencies } from './graph.js';
import { checkWorkflowOptions } from './options.js';
import type { ResolvedWorkflowOptions, WorkflowOptions } from './options.js';
import { loadWorkflowResult } from './results.js';
import type { WorkflowResult } from './results.js';
import { stepFromRecord } from './step.js';
import type { Step } from './step.js';
import { buildSteps, draftStep, newWorkflowId } from './workflow-definition.js';
import type { AddStepParams, DraftStep } from './workflow-definition.js';
import { WorkflowFailedError } from './workflow-events.js';
import { TERMINAL, announceRemoved, unfinishedByName, warnAboutScriptHandlers } from './workflow-notices.js';
import type { WorkflowEventMap } from './workflow-events.js';

export type { AddStepParams } from './workflow-definition.js';
export { WorkflowFailedError } from './workflow-events.js';
export type { NextTaskInfo, StepFinishedInfo, WorkflowEventMap } from './workflow-events.js';

/** Where a handle is: being defined, being stored by run(), stored (running or finished), or failed to start. */
export type WorkflowHandleState = 'draft' | 'starting' | 'started' | 'failed';
type Phase = WorkflowHandleState;

interface Finish {
  promise: Promise<WorkflowResult>;
  resolve(result: WorkflowResult): void;
  reject(error: Error): void;
}

export class WorkFlow implements RegistrationWatcher {
  readonly id: string;
  readonly name: string;
  readonly options: WorkflowOptions;
  /** Last known status. */
  status: WorkflowStatus;
  readonly #emitter = new EventEmitter<WorkflowEventMap>();
  readonly #resolvedOptions: ResolvedWorkflowOptions;
  readonly #drafts: DraftStep[] = [];
  #phase: Phase;
  #deflow: DeFlow | null = null;
  #starting: Promise<void> | null = null;
  #stopListening: (() => void) | null = null;
  #stopWatchingRegistration: (() => void) | null = null;
  /** Keeps the process alive while it follows the workflow (some backends' wake-ups do not). */
  #keepAlive: NodeJS.Timeout | null = null;
  #finish: Finish | null = null;
  #outcome: { result: WorkflowResult | null; error: Error | null } | null = null;
  #settling = false;
  #checking = false;
  #watchNextTask = false;

  private constructor(id: string, name: string, options: WorkflowOptions, resolved: ResolvedWorkflowOptions, phase: Phase, status: WorkflowStatus) {
    this.id = id;
    this.name = name;
    this.options = options;
    this.#resolvedOptions = resolved;
    this.#phase = phase;
    this.status = status;
  }

  /** Starts the definition of a workflow; nothing is stored until run(). */
  static create(name: string, options: WorkflowOptions = {}): WorkFlow {
    if (typeof name !== 'string' || name.trim().length === 0) {
      throw new ValidationError(`WorkFlow.create() needs a non-empty name, got ${describe(name)}`);
    }
    const resolved = checkWorkflowOptions(options);
    return new WorkFlow(newWorkflowId(name), name, { ...options }, resolved, 'draft', 'pending');
  }

  /** A handle on a stored workflow, or null when it does not exist. */
  static async getById(id: string): Promise<WorkFlow | null> {
    const deflow = DeFlow.getInstance();
    const { backend } = await deflow.services();
    const record = await backend.getWorkflow(id);
    return record === null ? null : WorkFlow.#fromRecord(record, deflow);
  }

  /** Handles on every stored workflow with this name, newest first. */
  static async getByName(name: string, limit = 1000): Promise<WorkFlow[]> {
    integer(limit, 'WorkFlow.getByName() limit', 1);
    const deflow = DeFlow.getInstance();
    const { backend } = await deflow.services();
    const records = await backend.listWorkflows({ name, limit });
    return records.map((record) => WorkFlow.#fromRecord(record, deflow));
  }

  static #fromRecord(record: WorkflowRecord, deflow: DeFlow): WorkFlow {
    const stored = record.options;
    const options: WorkflowOptions = {
      ...stored.stepDefaults,
      cleanOnDone: stored.cleanOnDone,
      retention: stored.retentionMs ?? Infinity,
    };
    const handle = new WorkFlow(record.id, record.name, options, { stored, replaceByName: false }, 'started', record.status);
    handle.#deflow = deflow;
    return handle;
  }

  /** draft (before run()), starting, started (stored: running or finished), failed (could not start). */
  get state(): WorkflowHandleState {
    return this.#phase;
  }

  /** DeFlow compatibility: `workflow.events.on(...)`. */
  get events(): this {
    return this;
  }

  /** Adds a step. Without `dependsOn` it runs after the step added before it. */
  addStep<SD = unknown, TD = unknown, TR = unknown>(params: AddStepParams<SD, TD, TR>): this {
    if (this.#phase !== 'draft') throw new ValidationError(`workflow ${this.id} already runs: add steps before run(), or use step.addAfter() from a handler`);
    this.#drafts.push(draftStep(params, `addStep() #${this.#drafts.length + 1} of workflow "${this.name}"`));
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
    if (this.#finish === null) {
      let resolve!: (result: WorkflowResult) => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<WorkflowResult>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.#finish = { promise, resolve, reject };
      if (this.#outcome !== null) this.#settleFinish();
      else this.#follow();
    }
    return this.#finish.promise;
  }

  /** Steps in execution order, each with its tasks (works while running, too). */
  async results(): Promise<WorkflowResult> {
    const { backend } = await this.#services();
    const record = await backend.getWorkflow(this.id);
    if (record === null) throw new NotFoundError(`workflow ${this.id} does not exist (it finished and was removed, or never started)`);
    this.status = record.status;
    return loadWorkflowResult(backend, record);
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
   * Removes the workflow and all its steps and tasks from the backend. Handles still waiting
   * for it to finish (in any process) reject with a NotFoundError.
   */
  async clean(): Promise<void> {
    const { backend } = await this.#services();
    const record = await backend.getWorkflow(this.id);
    const removed = await backend.removeWorkflow(this.id);
    if (removed && record !== null && !TERMINAL.includes(record.status)) await announceRemoved(backend, [this.id]);
  }

  on<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): this {
    this.#emitter.on(event, listener as never);
    this.#listenerAdded(event);
    return this;
  }

  once<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): this {
    this.#emitter.once(event, listener as never);
    this.#listenerAdded(event);
    return this;
  }

  off<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): this {
    this.#emitter.off(event, listener as never);
    return this;
  }

  removeListener<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): this {
    return this.off(event, listener);
  }

  listenerCount(event: keyof WorkflowEventMap): number {
    return this.#emitter.listenerCount(event);
  }

  /** @internal DeFlow was unregistered while this handle waited for the end. */
  registrationClosed(error: Error): void {
    this.#stopFollowing();
    if (this.#outcome === null) this.#conclude(null, error);
  }

  toJSON(): Record<string, unknown> {
    return { id: this.id, name: this.name, status: this.status, options: this.options };
  }

  // --- internals --------------------------------------------------------------------------------

  async #services(): Promise<{ backend: Backend }> {
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
      this.#conclude(null, error);
      throw error;
    }
  }

  async #store(deflow: DeFlow, deps: ReturnType<typeof planDependencies>, services: { backend: Backend; node: WorkerNode }): Promise<void> {
    const { backend, node } = services;
    // Listen before the workflow exists, so no event of a quick run is missed.
    if (this.#wantsFollowing()) this.#subscribe(deflow, node.hub, backend);
    const steps = await buildSteps(this.name, this.#drafts, deps, this.#resolvedOptions.stored.stepDefaults);
    this.#drafts.length = 0;
    if (!deflow.options.worker) warnAboutScriptHandlers(this.name, steps);
    const replaced = this.#resolvedOptions.replaceByName ? (await unfinishedByName(backend, this.name)).filter((id) => id !== this.id) : [];
    await backend.createWorkflow({
      id: this.id,
      name: this.name,
      options: this.#resolvedOptions.stored,
      steps,
      watchNextTask: this.#watchNextTask,
      replaceByName: this.#resolvedOptions.replaceByName,
    });
    if (replaced.length > 0) await announceRemoved(backend, replaced);
    this.#phase = 'started';
    this.status = 'running';
    if (this.#wantsFollowing()) this.#follow();
  }

  #listenerAdded(event: keyof WorkflowEventMap): void {
    if (event === 'nextTask' && !this.#watchNextTask) {
      this.#watchNextTask = true;
      if (this.#phase === 'started') {
        void this.#services()
          .then(({ backend }) => backend.watchNextTask(this.id))
          .catch((error: unknown) => this.#report(error));
      }
    }
    if (this.#outcome !== null && event === 'done' && this.#outcome.result !== null) return;
    this.#follow();
  }

  #wantsFollowing(): boolean {
    return this.#finish !== null || this.#emitter.listenerCount('done') + this.#emitter.listenerCount('nextTask') + this.#emitter.listenerCount('step') + this.#emitter.listenerCount('error') > 0;
  }

  /** Listens to this workflow's events through the node's hub (started handles only). */
  #follow(): void {
    if (this.#phase !== 'started' || this.#outcome !== null || this.#checking) return;
    const deflow = this.#deflow ?? DeFlow.getInstance();
    this.#deflow = deflow;
    this.#checking = true;
    void deflow
      .services()
      .then(({ node, backend }) => {
        if (this.#outcome !== null) return;
        this.#subscribe(deflow, node.hub, backend);
        // It may have finished before we listened.
        return this.#throughHiccups(deflow, () => backend.getWorkflow(this.id)).then((record) => {
          if (record === null) this.#conclude(null, new NotFoundError(`workflow ${this.id} does not exist (finished and removed?)`));
          else if (TERMINAL.includes(record.status)) void this.#finished(backend);
        });
      })
      .catch((error: unknown) => this.#conclude(null, error instanceof Error ? error : new Error(String(error))))
      .finally(() => {
        this.#checking = false;
      });
  }

  #subscribe(deflow: DeFlow, hub: EventHub, backend: Backend): void {
    if (this.#stopListening !== null) return;
    this.#stopWatchingRegistration = deflow.watch(this);
    this.#stopListening = hub.listen(this.id, (event) => this.#onEvent(event, backend));
    // An awaited done() must not let node exit early: SQLite's cross-process poll timer is
    // unref'd, and a `worker: false` process has no other timer.
    this.#keepAlive ??= setInterval(() => undefined, 1 << 30);
  }

  #onEvent(event: BackendEvent, backend: Backend): void {
    switch (event.type) {
      case 'nextTask':
        this.#emitter.emit('nextTask', {
          id: event.taskId,
          workflowId: event.workflowId,
          stepId: event.stepId,
          stepKey: `${event.workflowId}:${event.stepId}`,
          data: JSON.parse(event.dataJson) as unknown,
          attempt: event.attempt,
        });
        return;
      case 'step':
        this.#emitter.emit('step', { workflowId: event.workflowId, stepId: event.stepId, status: event.status });
        return;
      case 'workflow':
        void this.#finished(backend);
        return;
      default:
        return;
    }
  }

  async #finished(backend: Backend): Promise<void> {
    if (this.#settling || this.#outcome !== null) return;
    this.#settling = true;
    const deflow = this.#deflow ?? DeFlow.getInstance();
    try {
      const record = await this.#throughHiccups(deflow, () => backend.getWorkflow(this.id));
      if (record === null) {
        throw new NotFoundError(
          `workflow ${this.id} was removed (clean(), ifExist: 'replace', retention, or a store that lost its data) before its result could be read`,
        );
      }
      const result = await this.#throughHiccups(deflow, () => loadWorkflowResult(backend, record));
      this.status = result.status;
      this.#conclude(result, null);
    } catch (error) {
      this.#conclude(null, error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#settling = false;
    }
  }

  /**
   * A read that a backend hiccup (a restart, a dropped connection) made fail is tried again
   * while the registration lasts: the workflow goes on meanwhile, and done() must not give up.
   */
  async #throughHiccups<T>(deflow: DeFlow, read: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof BackendError) || deflow.state !== 'ready' || this.#outcome !== null) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 200 * 2 ** attempt)));
      }
    }
  }

  /** Records the end (result, or an error that stopped us from knowing it), emits, settles done(). */
  #conclude(result: WorkflowResult | null, error: Error | null): void {
    if (this.#outcome !== null) return;
    this.#outcome = { result, error };
    this.#stopFollowing();
    if (result !== null) {
      this.#emitter.emit('done', result);
      if (result.status !== 'succeeded' && this.#emitter.listenerCount('error') > 0) {
        this.#emitter.emit('error', failedError(result));
      }
    } else if (error !== null) {
      this.#report(error);
    }
    this.#settleFinish();
  }

  #settleFinish(): void {
    const outcome = this.#outcome;
    if (this.#finish === null || outcome === null) return;
    if (outcome.result !== null && outcome.result.status === 'succeeded') this.#finish.resolve(outcome.result);
    else if (outcome.result !== null) this.#finish.reject(failedError(outcome.result));
    else this.#finish.reject(outcome.error ?? new DeflowError('ERR_UNKNOWN', `workflow ${this.id} ended without a result`));
  }

  #stopFollowing(): void {
    if (this.#keepAlive !== null) clearInterval(this.#keepAlive);
    this.#keepAlive = null;
    this.#stopListening?.();
    this.#stopListening = null;
    this.#stopWatchingRegistration?.();
    this.#stopWatchingRegistration = null;
  }

  /** An error that is not a workflow failure: to 'error' listeners, else a process warning (unless done() will carry it). */
  #report(error: unknown): void {
    const asError = error instanceof Error ? error : new Error(String(error));
    if (this.#emitter.listenerCount('error') > 0) this.#emitter.emit('error', asError);
    else if (this.#finish === null) process.emitWarning(`workflow ${this.id}: ${asError.message}`, { type: 'DeflowWarning' });
  }
}

function failedError(result: WorkflowResult): WorkflowFailedError {
  return new WorkflowFailedError(result);
}
