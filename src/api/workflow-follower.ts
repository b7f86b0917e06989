/**
 * Following a stored workflow for its handle: the events (through the node's hub), the end that
 * done() settles with, reads that ride out backend hiccups (a reconnect), and a timer that keeps
 * the process alive while it follows. Works in any process holding a handle, whichever process
 * created the workflow or runs its tasks.
 *
 * Lifecycle:  idle -> following (listening to the hub) -> concluded (a result, or an error that
 *             stopped us from knowing it; for good)
 *
 * Each step that finishes while the handle follows is reported once ('step'), and 'done' once,
 * last. Event messages are only hints (anyone who can publish on the channel can forge one):
 * a 'step' or 'workflow' message, like a `resync` after a gap, makes the handle re-read the
 * stored workflow and steps (one read at a time, once more if messages came meanwhile), and
 * only what is stored is reported: steps stored as finished, not reported yet, and the end
 * once the stored workflow has one. Steps that had finished before the handle began to follow
 * are not reported. 'nextTask' is passed on as it came (its shape checked, not its content).
 */
import { EventEmitter } from 'node:events';
import type { Backend, BackendEvent, NextTaskEvent } from '../backends/backend.js';
import { excerpt, parseJson } from '../backends/event-messages.js';
import type { StepStatus, WorkflowStatus } from '../backends/records.js';
import type { EventHub } from '../engine/event-hub.js';
import { BackendError, DeflowError, NotFoundError } from '../errors.js';
import type { DeFlow, RegistrationWatcher } from './deflow.js';
import { toWorkflowEvent } from './events.js';
import { loadWorkflowResult } from './results.js';
import type { WorkflowResult } from './results.js';
import { endError } from './workflow-events.js';
import type { WorkflowEventMap } from './workflow-events.js';
import { TERMINAL } from './workflow-notices.js';

/** Statuses of a step that has finished (a 'step' event was published for it). */
const FINISHED_STEP: readonly StepStatus[] = ['succeeded', 'failed', 'skipped'];

function finishedIds(steps: readonly { id: string; status: StepStatus }[]): ReadonlySet<string> {
  return new Set(steps.filter((step) => FINISHED_STEP.includes(step.status)).map((step) => step.id));
}

/** What a follower asks of the handle it follows for. */
export interface FollowedHandle {
  readonly id: string;
  /** Stored (running or finished): only then is there something to follow. */
  isStarted(): boolean;
  /** The registration the handle works through. */
  registration(): DeFlow;
  /** A status the follower read from the backend. */
  statusRead(status: WorkflowStatus): void;
}

interface Finish {
  promise: Promise<WorkflowResult>;
  resolve(result: WorkflowResult): void;
  reject(error: Error): void;
}

export class WorkflowFollower implements RegistrationWatcher {
  readonly #handle: FollowedHandle;
  readonly #emitter = new EventEmitter<WorkflowEventMap>();
  #stopListening: (() => void) | null = null;
  #stopWatchingRegistration: (() => void) | null = null;
  /** Keeps the process alive while it follows the workflow (some backends' wake-ups do not). */
  #keepAlive: NodeJS.Timeout | null = null;
  #finish: Finish | null = null;
  /** The end seen, with the workflow's retry count then: a retry (a higher count) starts a new one. */
  #outcome: { result: WorkflowResult | null; error: Error | null; retries: number } | null = null;
  #settling = false;
  #checking = false;
  #watchNextTask = false;
  /** Steps reported with a 'step' event. */
  readonly #reportedSteps = new Set<string>();
  /** Steps that had finished when the handle began to follow (never reported); null until known. */
  #finishedBefore: Promise<ReadonlySet<string>> | null = null;
  /** A resync is being handled; `#resyncAgain` asks for one more round after it. */
  #resyncing = false;
  #resyncAgain = false;
  /** Events reported with an 'event' event, and those received before the handle followed (history). */
  readonly #reportedEvents = new Set<string>();
  #eventsBefore: Promise<void> | null = null;
  #readingEvents = false;
  #readEventsAgain = false;
  /** A nextTask message with data that is not JSON was warned about (once per handle). */
  #badNextTaskWarned = false;

  constructor(handle: FollowedHandle) {
    this.#handle = handle;
  }

  /** Someone listens for `nextTask`: the backend must publish the workflow's task starts. */
  get watchesNextTask(): boolean {
    return this.#watchNextTask;
  }

  /** Someone waits for the end or listens: the handle listens before the workflow is stored. */
  get wanted(): boolean {
    const listeners = ['done', 'nextTask', 'step', 'error', 'event'] as const;
    return this.#finish !== null || listeners.some((event) => this.#emitter.listenerCount(event) > 0);
  }

  on<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): void {
    this.#emitter.on(event, listener as never);
    this.#listenerAdded(event);
  }

  once<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): void {
    this.#emitter.once(event, listener as never);
    this.#listenerAdded(event);
  }

  off<K extends keyof WorkflowEventMap>(event: K, listener: (...args: WorkflowEventMap[K]) => void): void {
    this.#emitter.off(event, listener as never);
  }

  listenerCount(event: keyof WorkflowEventMap): number {
    return this.#emitter.listenerCount(event);
  }

  /**
   * Resolves with the result of a workflow that succeeded; rejects with a WorkflowFailedError otherwise.
   * After an end was seen, each call first checks whether the workflow was retried since: then
   * it waits for the new end (a promise already settled stays settled).
   */
  done(): Promise<WorkflowResult> {
    if (this.#outcome?.result == null) return this.#doneNow();
    return this.#retriedSince(this.#outcome.retries).then((retried) => {
      if (retried) this.#reopen();
      return this.#doneNow();
    });
  }

  /** The workflow was retried to `retries`: an end seen before is history, and listeners hear the new one. */
  retried(retries: number): void {
    if (this.#outcome === null || this.#outcome.retries >= retries) return;
    this.#reopen();
    if (this.wanted) this.follow();
  }

  #doneNow(): Promise<WorkflowResult> {
    if (this.#finish === null) {
      let resolve!: (result: WorkflowResult) => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<WorkflowResult>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.#finish = { promise, resolve, reject };
      if (this.#outcome !== null) this.#settleFinish();
      else this.follow();
    }
    return this.#finish.promise;
  }

  /** Whether the stored workflow was retried after the end this handle saw (unreadable: not known to be). */
  async #retriedSince(retries: number): Promise<boolean> {
    try {
      const { backend } = await this.#handle.registration().services();
      const record = await backend.getWorkflow(this.#handle.id);
      return record !== null && record.retries > retries;
    } catch {
      return false;
    }
  }

  /** Forgets the end seen: the next one is followed like a first. */
  #reopen(): void {
    if (this.#outcome === null) return;
    this.#outcome = null;
    this.#finish = null;
    this.#reportedSteps.clear();
    this.#finishedBefore = null;
  }

  /** The workflow could not be started: that is its end (`heard`: its starter was told, no warning). */
  failed(error: Error, heard = false): void {
    this.#conclude(null, error, 0, heard);
  }

  /** @internal DeFlow was unregistered while this handle waited for the end. */
  registrationClosed(error: Error): void {
    this.#stopFollowing();
    if (this.#outcome === null) this.#conclude(null, error);
  }

  /** Listens to the workflow's events through the node's hub (started handles only). */
  follow(): void {
    if (!this.#handle.isStarted() || this.#outcome !== null || this.#checking) return;
    const deflow = this.#handle.registration();
    this.#checking = true;
    void deflow
      .services()
      .then(({ node, backend }) => {
        if (this.#outcome !== null) return;
        const late = !this.#listening;
        this.subscribe(deflow, node.hub, backend);
        // Listening only now: the steps that finished already are history, not events.
        // (Unreadable, e.g. unregistered meanwhile: then none counts as history.)
        if (late) {
          this.#finishedBefore = this.#throughHiccups(deflow, () => backend.getSteps(this.#handle.id)).then(finishedIds, () => new Set<string>());
          this.#eventsBefore = this.#throughHiccups(deflow, () => backend.getEvents(this.#handle.id)).then(
            (events) => {
              for (const event of events) this.#reportedEvents.add(event.id);
            },
            () => undefined,
          );
        }
        // It may have finished before we listened.
        return this.#throughHiccups(deflow, () => backend.getWorkflow(this.#handle.id)).then((record) => {
          if (record === null) this.#conclude(null, new NotFoundError(`workflow ${this.#handle.id} does not exist (finished and removed?)`));
          else if (TERMINAL.includes(record.status)) void this.#finished(backend);
        });
      })
      .catch((error: unknown) => this.#conclude(null, error instanceof Error ? error : new Error(String(error))))
      .finally(() => {
        this.#checking = false;
      });
  }

  get #listening(): boolean {
    return this.#stopListening !== null;
  }

  /** Starts listening; run() calls it before it stores the workflow, so no event of a quick run is missed. */
  subscribe(deflow: DeFlow, hub: EventHub, backend: Backend): void {
    if (this.#stopListening !== null) return;
    // Before the workflow is stored nothing has finished; follow() replaces this when it listens late.
    this.#finishedBefore ??= Promise.resolve(new Set());
    this.#stopWatchingRegistration = deflow.watch(this);
    this.#stopListening = hub.listen(this.#handle.id, (event) => this.#onEvent(event, backend));
    // An awaited done() must not let node exit early: SQLite's cross-process poll timer is
    // unref'd, and a `worker: false` process has no other timer.
    this.#keepAlive ??= setInterval(() => undefined, 1 << 30);
  }

  #listenerAdded(event: keyof WorkflowEventMap): void {
    if (event === 'nextTask' && !this.#watchNextTask) {
      this.#watchNextTask = true;
      if (this.#handle.isStarted()) {
        void this.#handle
          .registration()
          .services()
          .then(({ backend }) => backend.watchNextTask(this.#handle.id))
          .catch((error: unknown) => this.#report(error));
      }
    }
    if (this.#outcome !== null && event === 'done' && this.#outcome.result !== null) return;
    this.follow();
  }

  #onEvent(event: BackendEvent, backend: Backend): void {
    switch (event.type) {
      case 'nextTask':
        this.#nextTask(event);
        return;
      case 'step':
        // A hint (possibly forged): the step is reported only once it is stored as finished.
        void this.#recheckStep(event.stepId, backend);
        return;
      case 'event':
        // A hint too: only events stored for the workflow are reported.
        if (this.#emitter.listenerCount('event') > 0) void this.#reportEvents(backend);
        return;
      case 'workflow':
      case 'resync':
        // A hint (possibly forged), or a gap: only the stored state is reported.
        void this.#resync(backend);
        return;
      default:
        return;
    }
  }

  /** Passes a task start on; a message whose data is not JSON is warned about once, and skipped. */
  #nextTask(event: NextTaskEvent): void {
    const data = parseJson(event.dataJson);
    if (!data.ok) {
      if (!this.#badNextTaskWarned) {
        this.#badNextTaskWarned = true;
        process.emitWarning(
          `workflow ${this.#handle.id}: skipped a nextTask event message whose data is not JSON (${excerpt(event.dataJson)}); ` +
            'someone may be publishing on the event channel, see docs/security.md',
          { type: 'DeflowWarning', code: 'DEFLOW_BAD_EVENT' },
        );
      }
      return;
    }
    this.#emitter.emit('nextTask', {
      id: event.taskId,
      workflowId: event.workflowId,
      stepId: event.stepId,
      stepKey: `${event.workflowId}:${event.stepId}`,
      data: data.value,
      attempt: event.attempt,
    });
  }

  async #finished(backend: Backend): Promise<void> {
    if (this.#settling || this.#outcome !== null) return;
    this.#settling = true;
    const deflow = this.#handle.registration();
    const id = this.#handle.id;
    try {
      const record = await this.#throughHiccups(deflow, () => backend.getWorkflow(id));
      if (record === null) {
        throw new NotFoundError(
          `workflow ${id} was removed (clean(), ifExist: 'replace', retention, or a store that lost its data) before its result could be read`,
        );
      }
      if (!TERMINAL.includes(record.status)) return; // not ended (as stored): the real end comes with its own message
      const result = await this.#throughHiccups(deflow, () => loadWorkflowResult(backend, record, deflow.options.resultTasks));
      this.#handle.statusRead(result.status);
      // Step events lost on the way (or not yet arrived) come before 'done', which is last.
      await this.#reportMissedSteps(result.steps);
      this.#conclude(result, null, record.retries);
    } catch (error) {
      this.#conclude(null, error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#settling = false;
    }
  }

  /** One stored step read (not the whole list: a chain of a thousand steps hears a thousand of these). */
  async #recheckStep(stepId: string, backend: Backend): Promise<void> {
    if (this.#outcome !== null || this.#reportedSteps.has(stepId)) return;
    try {
      const step = await this.#throughHiccups(this.#handle.registration(), () => backend.getStep(this.#handle.id, stepId));
      if (step !== null) await this.#reportMissedSteps([step]);
    } catch (error) {
      if (this.#outcome === null) this.#report(error);
    }
  }

  /** Reports the stored events not reported yet, in arrival order; one read at a time. */
  async #reportEvents(backend: Backend): Promise<void> {
    if (this.#readingEvents) {
      this.#readEventsAgain = true;
      return;
    }
    this.#readingEvents = true;
    try {
      await this.#eventsBefore;
      do {
        this.#readEventsAgain = false;
        const events = await this.#throughHiccups(this.#handle.registration(), () => backend.getEvents(this.#handle.id));
        for (const event of events) {
          if (this.#reportedEvents.has(event.id)) continue;
          this.#reportedEvents.add(event.id);
          this.#emitter.emit('event', toWorkflowEvent(event));
        }
      } while (this.#readEventsAgain && this.#outcome === null);
    } catch (error) {
      if (this.#outcome === null) this.#report(error);
    } finally {
      this.#readingEvents = false;
    }
  }

  /** Reports a finished step, once. */
  #stepFinished(stepId: string, status: StepStatus): void {
    if (this.#outcome !== null || this.#reportedSteps.has(stepId)) return;
    this.#reportedSteps.add(stepId);
    this.#emitter.emit('step', { workflowId: this.#handle.id, stepId, status });
  }

  /** Reports the finished steps among `steps` (as stored) that no event reported, in the order they finished. */
  async #reportMissedSteps(steps: readonly { id: string; status: StepStatus; finishedAt: number | null }[]): Promise<void> {
    const before = (await this.#finishedBefore) ?? new Set<string>();
    const missed = steps.filter((step) => FINISHED_STEP.includes(step.status) && !before.has(step.id) && !this.#reportedSteps.has(step.id));
    missed.sort((a, b) => (a.finishedAt ?? Infinity) - (b.finishedAt ?? Infinity));
    for (const step of missed) this.#stepFinished(step.id, step.status);
  }

  /**
   * An event message, or a gap in the backend's event stream: read the stored steps and report
   * those finished meanwhile, and the end if it came. One round at a time; a message during one
   * asks for another.
   */
  async #resync(backend: Backend): Promise<void> {
    if (this.#resyncing) {
      this.#resyncAgain = true;
      return;
    }
    this.#resyncing = true;
    const deflow = this.#handle.registration();
    const id = this.#handle.id;
    try {
      do {
        this.#resyncAgain = false;
        const record = await this.#throughHiccups(deflow, () => backend.getWorkflow(id));
        if (record === null || TERMINAL.includes(record.status)) {
          await this.#finished(backend); // reports the missed steps, then 'done'
          return;
        }
        await this.#reportMissedSteps(await this.#throughHiccups(deflow, () => backend.getSteps(id)));
      } while (this.#resyncAgain && this.#outcome === null);
    } catch (error) {
      if (this.#outcome === null) this.#report(error);
    } finally {
      this.#resyncing = false;
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
  #conclude(result: WorkflowResult | null, error: Error | null, retries = 0, heard = false): void {
    if (this.#outcome !== null) return;
    this.#outcome = { result, error, retries };
    this.#stopFollowing();
    if (result !== null) {
      this.#emitter.emit('done', result);
      if (result.status !== 'succeeded' && this.#emitter.listenerCount('error') > 0) {
        this.#emitter.emit('error', endError(result));
      }
    } else if (error !== null && !heard) {
      this.#report(error);
    }
    this.#settleFinish();
  }

  #settleFinish(): void {
    const outcome = this.#outcome;
    if (this.#finish === null || outcome === null) return;
    if (outcome.result !== null && outcome.result.status === 'succeeded') this.#finish.resolve(outcome.result);
    else if (outcome.result !== null) this.#finish.reject(endError(outcome.result));
    else this.#finish.reject(outcome.error ?? new DeflowError('ERR_UNKNOWN', `workflow ${this.#handle.id} ended without a result`));
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
    else if (this.#finish === null) process.emitWarning(`workflow ${this.#handle.id}: ${asError.message}`, { type: 'DeflowWarning' });
  }
}
