/**
 * Runs the jobs of one step on this node: claims them in batches, runs up to
 * `taskConcurrency` at once, and hands outcomes to the batcher.
 *
 * How many jobs it holds (running + claimed-but-not-started) adapts to how long jobs take:
 * slow jobs are claimed one lane at a time, so other nodes get their share; quick jobs are
 * claimed in batches of up to `maxBatch`, so round trips stop dominating. It refills when
 * half of what it holds is used up, so the next batch is on its way while jobs still run, and
 * whenever a lane has nothing left to start, so no lane idles while the step has ready jobs.
 */
import type { ClaimRequest, ClaimResult, ClaimedJob, JobOutcome, RunnableStep } from '../backends/backend.js';
import { formatFailure } from '../backends/failures.js';
import { serializeError } from '../errors.js';
import { faultPoint } from '../fault-points.js';
import { executeJob } from './executor.js';
import { withEvents } from './step-events.js';
import { leaseOf } from './lease.js';
import type { HostedRunner, StepRunnerHost } from './step-runner-host.js';
import type { RegisteredHandler } from './handler-registry.js';
import { StepTelemetry } from './telemetry.js';

/** Milliseconds of work a node aims to hold per lane when jobs are quick. */
const HOLD_WINDOW_MS = 25;
/** Weight of the newest job duration in the moving average. */
const EWMA_WEIGHT = 0.2;

export class StepRunner implements HostedRunner {
  readonly key: string;
  watchNextTask = false;
  private readonly queue: ClaimedJob[] = [];
  private readonly runningIds = new Set<string>();
  private head = 0;
  private running = 0;
  private claiming = false;
  /** The last claim came back short: no more ready jobs until a work event says otherwise. */
  private drained = false;
  private stopped = false;
  private taskCount = 0;
  /** Task jobs this runner claimed, to notice when it holds the whole step. */
  private claimedTasks = 0;
  private averageJobMs = -1;
  /** Reading the events the step waited for (steps with waitFor only). */
  private loadingEvents: Promise<void> | undefined;
  private readonly telemetry: StepTelemetry;

  constructor(
    private readonly host: StepRunnerHost,
    private current: RunnableStep,
    private readonly handler: RegisteredHandler,
  ) {
    this.key = runnerKey(current.workflowId, current.stepId);
    this.telemetry = new StepTelemetry(current);
  }

  /** The node is done with this runner (dropped or stopped): its step span ends. */
  retire(): void {
    this.telemetry.end();
  }

  /** What this node knows of the step (refreshed when a claim reports a new execution index). */
  get step(): RunnableStep {
    return this.current;
  }

  /** Jobs running or waiting to start on this node. */
  get active(): number {
    return this.running + this.queue.length - this.head;
  }

  get idle(): boolean {
    return this.active === 0 && !this.claiming;
  }

  get isDrained(): boolean {
    return this.drained;
  }

  get claimInFlight(): boolean {
    return this.claiming;
  }

  heldJobIds(): string[] {
    return [...this.runningIds, ...this.queue.slice(this.head).map((job) => job.id)];
  }

  /** New jobs may be ready, or the node may run again (its lease was renewed): start and claim. */
  kick(): void {
    this.drained = false;
    this.pump();
    this.fill();
  }

  /** Jobs claimed for this step by someone else's round trip (an adopting completion). */
  adopt(claim: ClaimResult): void {
    this.drained = false;
    this.accept(claim, 0);
  }

  /** Stops claiming; returns the claimed jobs that never started, for release. */
  stop(): ClaimedJob[] {
    this.stopped = true;
    const unstarted = this.queue.slice(this.head);
    this.queue.length = 0;
    this.head = 0;
    return unstarted;
  }

  /** Drops every claimed job without running it (the node lost its lease: they are gone). */
  forget(): void {
    this.queue.length = 0;
    this.head = 0;
    this.drained = false;
  }

  fill(): void {
    if (this.claiming || this.drained || this.stopped || !this.host.accepting) return;
    const target = this.holdTarget();
    const held = this.active;
    if (held > target / 2 && held >= this.current.options.taskConcurrency) return;
    const request: ClaimRequest = {
      nodeId: this.host.nodeId,
      workflowId: this.step.workflowId,
      stepId: this.step.stepId,
      limit: target - held,
    };
    this.claiming = true;
    if (this.current.events === undefined) void this.loadEvents();
    const claim = (): void => {
      if (this.stopped || !this.host.accepting) {
        this.claiming = false;
        return;
      }
      // A limited step's claim also waits for outcomes already on their way: racing ahead of
      // them, it would find its own finished jobs still counted in flight and come back short.
      const batcher = this.host.batcher;
      const sentAt = this.host.clock.monotonic();
      const trip: Promise<ClaimResult | undefined> =
        batcher.pending > 0 || (batcher.busy && isLimited(this.current)) ? batcher.flush(request) : this.host.backend.claim(request);
      trip.then(
        (result) => {
          this.claiming = false;
          this.telemetry.claimed(result?.jobs.length ?? 0, this.host.clock.monotonic() - sentAt);
          this.accept(result, request.limit);
        },
        (error: unknown) => {
          this.claiming = false;
          this.host.onClaimError(this, error);
        },
      );
    };
    // Quick jobs on an in-process backend never leave the microtask queue: yield now and
    // then so timers (heartbeats, flushes) and I/O keep running.
    if (this.host.shouldYield()) setImmediate(claim);
    else claim();
  }

  /**
   * A step that waited for events reads them once, before its first job runs (step.events).
   * The read starts with the first claim, not after it: a signalled step's first task would
   * otherwise wait for one more round trip.
   */
  private loadEvents(): Promise<void> | undefined {
    if (this.loadingEvents !== undefined) return this.loadingEvents;
    const loading = withEvents(this.host.backend, this.current)?.then((step) => {
      this.current = { ...this.current, events: step.events ?? [] };
    });
    // A failure is seen (and the read retried) by the job that waits for it; none may be waiting yet.
    void loading?.catch(() => undefined);
    this.loadingEvents = loading;
    return loading;
  }

  private holdTarget(): number {
    const lanes = this.step.options.taskConcurrency;
    // A claimed job of a limited step counts as in flight: hold no more than the lanes can run.
    // A rate-limited step claims only what it starts at once: a start counts when it is claimed.
    if (this.averageJobMs < 0 || isLimited(this.step) || this.step.options.rateLimit !== undefined) return lanes;
    const byTime = Math.ceil((lanes * HOLD_WINDOW_MS) / Math.max(this.averageJobMs, 0.001));
    return Math.min(Math.max(lanes, this.host.maxBatch), Math.max(lanes, byTime));
  }

  private accept(result: ClaimResult | undefined, asked: number): void {
    const jobs = result?.jobs ?? [];
    if (result !== undefined) {
      this.taskCount = result.taskCount;
      if (jobs.length > 0) this.watchNextTask = result.watchNextTask;
      // Claimed while the step was in beforeAll, the snapshot had no execution index yet.
      if (result.runIndex !== undefined && result.runIndex !== this.current.runIndex) {
        this.current = { ...this.current, runIndex: result.runIndex };
      }
    }
    if (jobs.length < asked) this.drained = true;
    // Cut short by the step's rate limit: nobody sends a work event when its next start is allowed.
    if (result?.rateLimitedMs !== undefined) this.host.onRateLimited(this, result.rateLimitedMs);
    if (result?.unknownRateLimit !== undefined && jobs.length > 0) {
      this.failUnknownRateLimit(jobs, result.unknownRateLimit);
      return;
    }
    for (const job of jobs) if (job.kind === 'task') this.claimedTasks++;
    // Every task of the step came to this runner (a chain's single task, say): asking again
    // would only come back empty; a retry or added task sends a work event anyway.
    if (jobs.length > 0 && jobs.every((job) => job.kind === 'task') && this.claimedTasks >= this.taskCount) this.drained = true;
    if (this.stopped) {
      this.host.releaseJobs(jobs);
      return;
    }
    for (const job of jobs) this.queue.push(job);
    if (jobs.length > 0) faultPoint('claim:before-start');
    this.pump();
    this.fill(); // lanes that freed up while this claim was in flight
    if (this.active === 0) this.host.onRunnerIdle(this);
  }

  /** The step names a rate limit that is not set: its jobs fail for good, with a record saying what to do. */
  private failUnknownRateLimit(jobs: readonly ClaimedJob[], rateLimit: string): void {
    const error = formatFailure({ code: 'ERR_RATE_LIMIT_UNKNOWN', step: this.current.name, stepId: this.current.stepId, rateLimit });
    for (const job of jobs) this.host.batcher.push({ ...leaseOf(job), status: 'failed', error });
    this.fill(); // the next jobs fail the same way, their claim carrying these outcomes
    this.host.batcher.settle(this.active === 0 && this.host.activeJobs() === 0);
    if (this.active === 0) this.host.onRunnerIdle(this);
  }

  private pump(): void {
    if (!this.host.leaseFresh) return; // resumed by a kick once a heartbeat goes through
    const lanes = this.current.options.taskConcurrency;
    while (this.running < lanes && this.head < this.queue.length) {
      const job = this.queue[this.head++] as ClaimedJob;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.running++;
      this.start(job);
    }
  }

  private start(job: ClaimedJob): void {
    const startedAt = this.host.clock.monotonic();
    this.runningIds.add(job.id);
    const ended = this.telemetry.attempt(job);
    const run = (): Promise<JobOutcome> => {
      const context = { node: this.host, step: this.current, job, taskCount: this.taskCount, calls: 0 };
      return executeJob(context, this.handler, this.host.views, this.watchNextTask, this.host.executionHooks, this.host.clock);
    };
    const loading = this.loadEvents();
    const trip = loading === undefined || this.current.events !== undefined ? run() : loading.then(run, (error: unknown) => {
      this.loadingEvents = undefined; // the next job reads them again
      throw error;
    });
    trip.then(
      (outcome) => this.finished(outcome, startedAt, ended),
      // executeJob catches user errors; reaching here is a deflow bug, still recorded on the job.
      (error: unknown) => this.finished(internalFailure(job, error), startedAt, ended),
    );
  }

  private finished(outcome: JobOutcome, startedAt: number, ended: (outcome: JobOutcome, tookMs: number) => void): void {
    const tookMs = this.host.clock.monotonic() - startedAt;
    ended(outcome, tookMs);
    this.averageJobMs = this.averageJobMs < 0 ? tookMs : this.averageJobMs + EWMA_WEIGHT * (tookMs - this.averageJobMs);
    this.running--;
    this.runningIds.delete(outcome.id);
    if (outcome.error?.code === 'ERR_CORRUPT_RECORD') this.host.reportCorrupt(outcome.error);
    if (outcome.kind === 'task') faultPoint('handler:before-complete');
    this.host.batcher.push(outcome);
    // A limited step's claim may have come back short only because its limit was reached: the
    // slot this job frees is claimable again (its outcome travels with the claim).
    if (isLimited(this.current)) this.drained = false;
    this.pump();
    this.fill(); // a claim now carries the queued outcomes in the same round trip
    this.host.batcher.settle(this.active === 0 && this.host.activeJobs() === 0);
    if (this.active === 0) this.host.onRunnerIdle(this);
  }
}

function isLimited(step: RunnableStep): boolean {
  return step.options.globalConcurrency !== undefined || step.options.keyConcurrency !== undefined;
}

export function runnerKey(workflowId: string, stepId: string): string {
  return `${workflowId}\u0000${stepId}`;
}

function internalFailure(job: ClaimedJob, error: unknown): JobOutcome {
  return { ...leaseOf(job), status: 'failed', error: serializeError(error, 'deflow') };
}
