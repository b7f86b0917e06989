/**
 * How a node finds its work, and starts a StepRunner for each step it can run:
 * - discovery: asks the backend for runnable steps (on a work event for a step it has no runner
 *   for, a wake-up, a safety-net interval, when a delayed retry falls due) and loads each one's
 *   handler (registry by key, else importing the step's module);
 * - adoption: takes over the steps a completion claimed for this node in the same round trip;
 * - a step whose module exists but fails to load is reported once; the node never claims it;
 * - a step whose stored record is corrupt gets a runner that fails its jobs (corrupt-steps.ts).
 *
 * Lifecycle:  created -> looking (start) -> stopped (stop: no more rounds, retries or timers)
 */
import type { CompleteResult, JobOutcome, RunnableStep, WorkEvent } from '../backends/backend.js';
import type { ClockTimer } from '../clock.js';
import { StepModuleError } from '../errors.js';
import { corruptStepHandler } from './corrupt-steps.js';
import { EarliestTimer } from './earliest-timer.js';
import { handlerFor } from './handler-registry.js';
import type { RegisteredHandler } from './handler-registry.js';
import type { HandlerResolver } from './handler-resolver.js';
import type { RunnerSet } from './runner-set.js';
import { StepRunner, runnerKey } from './step-runner.js';
import { traceWorkflowEnd } from './telemetry.js';
import type { HostedRunner, StepRunnerHost } from './step-runner-host.js';

/** How long a runner whose claim failed waits before it claims again (the backend may be restarting). */
const CLAIM_RETRY_MS = 500;
/** Most runnable steps one discovery round asks for. */
const STEPS_PER_ROUND = 100;
/** Added to a due time so the job is claimable when the node looks. */
const DUE_MARGIN_MS = 5;

export interface StepDiscoveryOptions {
  /** Safety net: look for runnable steps this often even without a wake-up. */
  intervalMs: number;
  resolver: HandlerResolver;
  problem(during: string, error: unknown): void;
}

export class StepDiscovery {
  private round: 'idle' | 'running' | 'again' = 'idle';
  private intervalTimer: ClockTimer | null = null;
  private retryTimer: ClockTimer | null = null;
  /** Steps the last completion adopted: their work events need no discovery. */
  private readonly adoptedWork = new Set<string>();
  private readonly reportedUnloadable = new Set<string>();
  /** Looks again when a delayed retry is due. */
  private readonly delayedDiscovery: EarliestTimer;

  constructor(
    private readonly host: StepRunnerHost,
    private readonly runners: RunnerSet,
    private readonly options: StepDiscoveryOptions,
  ) {
    this.delayedDiscovery = new EarliestTimer(host.clock, () => this.discover());
  }

  /** Starts the safety-net interval (not unref'd: a worker node keeps its process alive). */
  start(): void {
    this.intervalTimer = this.host.clock.every(this.options.intervalMs, () => this.discover());
  }

  /** No more discovery rounds, retries or timers. */
  stop(): void {
    this.intervalTimer?.cancel();
    this.retryTimer?.cancel();
    this.delayedDiscovery.cancel();
  }

  /** Looks for runnable steps this node can run and starts runners for them. */
  discover(): void {
    if (!this.host.accepting) return;
    if (this.round !== 'idle') {
      this.round = 'again';
      return;
    }
    this.round = 'running';
    this.discoverOnce()
      .catch((error: unknown) => this.options.problem('discover', error))
      .finally(() => {
        const again = this.round === 'again';
        this.round = 'idle';
        if (again) this.discover();
      });
  }

  /** Looks for runnable steps once `delayMs` (backend clock) passed: a rate limit allows a start then. */
  discoverIn(delayMs: number): void {
    if (this.host.accepting) this.delayedDiscovery.in(Math.max(0, delayMs) + DUE_MARGIN_MS);
  }

  /** A runner's claim failed (not for a lost lease): it and discovery try again after a pause. */
  retryLater(runner: HostedRunner): void {
    if (this.retryTimer !== null || !this.host.accepting) return;
    this.retryTimer = this.host.clock.after(CLAIM_RETRY_MS, () => {
      this.retryTimer = null;
      runner.kick();
      this.discover();
    });
  }

  /** Jobs of a step may be claimable: its runner claims them, or discovery finds the step. */
  onWork(event: WorkEvent): void {
    // One turn later: a completion that adopted this step must create its runner first,
    // or this event would start a needless discovery round trip.
    const key = runnerKey(event.workflowId, event.stepId);
    setImmediate(() => {
      if (this.adoptedWork.has(key)) return; // the completion already handed us this work
      const runner = this.runners.get(event.workflowId, event.stepId);
      if (runner === undefined) this.discover();
      else runner.kick();
    });
  }

  /** What a completion means for finding work: retries falling due, adopted steps, work events. */
  afterCompletion(result: CompleteResult, sent: readonly JobOutcome[]): void {
    // A retry after a delay is claimable only then: look again when it is due, not at the next safety-net round.
    let retryIn = Infinity;
    for (const outcome of sent) {
      if (outcome.status === 'retry' && outcome.retryDelayMs > 0) retryIn = Math.min(retryIn, outcome.retryDelayMs);
    }
    if (retryIn !== Infinity && this.host.accepting) this.delayedDiscovery.in(retryIn + DUE_MARGIN_MS);
    if (result.adopted !== undefined && result.adopted.length > 0 && this.adoptedWork.size === 0) {
      // Forget after this turn: only the work events of this completion are covered.
      setImmediate(() => this.adoptedWork.clear());
    }
    for (const { step, claim } of result.adopted ?? []) {
      this.adoptedWork.add(runnerKey(step.workflowId, step.stepId));
      let runner = this.runners.get(step.workflowId, step.stepId);
      const handler = step.corrupt === undefined ? handlerFor(step.handler) : this.corruptHandler(step);
      if (runner === undefined && handler !== undefined && this.host.accepting) {
        runner = new StepRunner(this.host, step, handler);
        this.runners.add(runner);
      }
      if (runner === undefined) this.host.releaseJobs(claim.jobs);
      else runner.adopt(claim);
    }
    for (const event of result.events) {
      if (event.type === 'work') this.onWork(event);
      else if (event.type === 'workflow') traceWorkflowEnd(this.host.backend, event);
    }
  }

  private async discoverOnce(): Promise<void> {
    const { steps, nextRunAt, now } = await this.host.backend.runnableSteps(STEPS_PER_ROUND, this.host.queues);
    for (const step of steps) {
      const existing = this.runners.get(step.workflowId, step.stepId);
      if (existing !== undefined) {
        existing.kick();
        continue;
      }
      await this.startRunner(step);
    }
    if (nextRunAt !== null) this.delayedDiscovery.in(Math.max(0, nextRunAt - now) + DUE_MARGIN_MS);
  }

  private async startRunner(step: RunnableStep): Promise<void> {
    const resolved = step.corrupt === undefined ? this.options.resolver.resolve(step.handler) : this.corruptHandler(step);
    const handler = resolved instanceof Promise ? await resolved : resolved;
    if (handler === null) {
      this.reportUnloadable(step);
      return;
    }
    if (handler.refusal !== undefined) this.reportRefused(step, handler.refusal);
    if (!this.host.accepting) return;
    let runner = this.runners.get(step.workflowId, step.stepId);
    if (runner === undefined) {
      runner = new StepRunner(this.host, step, handler);
      this.runners.add(runner);
    }
    runner.kick();
  }

  /** A module this node will not import: its runner fails the step's jobs; the operator hears it once per handler. */
  private reportRefused(step: RunnableStep, refusal: StepModuleError): void {
    const key = `refused\0${step.handler.key}\0${step.handler.module ?? ''}`;
    if (this.reportedUnloadable.has(key)) return;
    this.reportedUnloadable.add(key);
    this.options.problem(
      'load',
      new StepModuleError(`step "${step.name}" of workflow ${step.workflowId} fails: ${refusal.message}`, { cause: refusal }),
    );
  }

  /** The handler that fails the jobs of a step whose record is corrupt (the runner reports the failures). */
  private corruptHandler(step: RunnableStep): RegisteredHandler {
    return corruptStepHandler(step);
  }

  /**
   * A step module that exists but fails to load is a bug the user must hear about (once per
   * handler); a handler this node simply does not have is another node's business.
   */
  private reportUnloadable(step: RunnableStep): void {
    const key = step.handler.key;
    const resolver = this.options.resolver;
    if (!resolver.isBroken(key) || this.reportedUnloadable.has(key)) return;
    this.reportedUnloadable.add(key);
    const why = resolver.whyUnloadable(key) ?? 'it could not be loaded';
    this.options.problem(
      'load',
      new StepModuleError(`this node cannot run step "${step.name}" of workflow ${step.workflowId}: ${why}; it leaves the step to other nodes`),
    );
  }
}
