/**
 * Collects job outcomes and nextTask events and writes them in batches: one backend round
 * trip per batch, optionally claiming the next batch of a step in the same trip. One flush
 * is in flight at a time so events and transitions keep their order. A flush that fails
 * keeps its outcomes and is retried with backoff; fencing tokens make a retry of a batch
 * that did land harmless (its outcomes come back as stale).
 */
import createDebug from 'debug';
import type {
  AdoptRequest,
  Backend,
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  CompleteResult,
  JobOutcome,
  NextTaskEvent,
} from '../backends/backend.js';
import type { Clock } from '../clock.js';

const debug = createDebug('deflow:engine:batcher');

export interface BatcherOptions {
  /** Flush as soon as this many outcomes wait. */
  maxBatch: number;
  /** Longest an outcome waits while other jobs still run. */
  maxDelayMs: number;
  /** Sets the delay and retry timers. */
  clock: Clock;
  onResult(result: CompleteResult, sent: readonly JobOutcome[]): void;
  onError(error: unknown): void;
  /** What this node can adopt from the steps a completion makes runnable. */
  adopt?(): AdoptRequest | undefined;
}

export class CompletionBatcher {
  private outcomes: JobOutcome[] = [];
  private events: NextTaskEvent[] = [];
  private inFlight: Promise<unknown> | null = null;
  private timer: { cancel(): void; delayMs: number } | null = null;
  private failures = 0;
  /** Shutting down past the drain timeout: failed attempts of aborted tasks are not recorded. */
  private keepFailures = true;
  private closed = false;

  constructor(
    private readonly backend: Backend,
    private readonly options: BatcherOptions,
  ) {}

  get pending(): number {
    return this.outcomes.length + this.events.length;
  }

  get busy(): boolean {
    return this.inFlight !== null;
  }

  /** Queues an outcome; it leaves with the next flush (see `settle`). */
  push(outcome: JobOutcome): void {
    if (this.closed || (!this.keepFailures && outcome.status !== 'succeeded')) {
      debug('dropping the %s outcome of job %s: the node is shutting down and hands the job back', outcome.status, outcome.id);
      return;
    }
    this.outcomes.push(outcome);
  }

  /**
   * From now on a failed attempt is not recorded: the node aborted its running tasks to shut
   * down, their jobs go back to the queue without counting an attempt.
   */
  dropFailures(): void {
    this.keepFailures = false;
  }

  /** After the final flush: later outcomes (a handler that ignored its abort) are dropped. */
  close(): void {
    this.closed = true;
    this.stopTimers();
    this.outcomes = [];
    this.events = [];
  }

  /**
   * Makes sure queued outcomes leave: at once when the node is idle (nothing to batch them
   * with), when a batch is full, or after `maxDelayMs`.
   */
  settle(idle: boolean): void {
    if (this.outcomes.length === 0) return;
    if (idle && this.inFlight === null) this.flush().catch((error: unknown) => this.options.onError(error));
    else this.flushSoon(idle ? 0 : this.options.maxDelayMs);
  }

  addEvent(event: NextTaskEvent): void {
    if (this.closed) return;
    this.events.push(event);
    this.flushSoon(this.options.maxDelayMs);
  }

  /** Schedules a flush in `delayMs` (0: on the next turn of the event loop). */
  flushSoon(delayMs: number): void {
    if (this.closed) return;
    if (this.outcomes.length >= this.options.maxBatch) delayMs = 0;
    if (this.timer !== null) {
      if (this.timer.delayMs <= delayMs) return;
      this.timer.cancel();
    }
    const fire = (): void => {
      this.timer = null;
      this.flush().catch((error: unknown) => this.options.onError(error));
    };
    if (delayMs === 0) {
      const handle = setImmediate(fire);
      this.timer = { cancel: () => clearImmediate(handle), delayMs };
    } else {
      const handle = this.options.clock.after(delayMs, fire);
      this.timer = { cancel: () => handle.cancel(), delayMs };
    }
  }

  /**
   * Writes everything pending (waiting for a flush in flight first). With `next`, also
   * claims that step's next batch in the same round trip and returns it.
   */
  async flush(next?: ClaimRequest): Promise<ClaimResult | undefined> {
    while (this.inFlight !== null) await this.inFlight.catch(() => undefined);
    if (this.timer !== null) {
      this.timer.cancel();
      this.timer = null;
    }
    if (this.outcomes.length === 0 && this.events.length === 0 && next === undefined) return undefined;
    const outcomes = this.outcomes;
    const events = this.events;
    this.outcomes = [];
    this.events = [];
    const request: CompleteRequest = { outcomes, events };
    if (next !== undefined) request.next = next;
    const adopt = this.options.adopt?.();
    if (adopt !== undefined && outcomes.length > 0) request.adopt = adopt;
    const trip = this.backend.complete(request);
    this.inFlight = trip;
    try {
      const result = await trip;
      this.failures = 0;
      this.options.onResult(result, outcomes);
      return result.claimed;
    } catch (error) {
      // Keep everything for the next attempt, in order.
      this.outcomes = outcomes.concat(this.outcomes);
      this.events = events.concat(this.events);
      this.failures++;
      const retryMs = Math.min(1_000, 50 * 2 ** Math.min(this.failures, 5));
      debug('flush of %d outcomes failed (attempt %d), retrying in %d ms: %O', outcomes.length, this.failures, retryMs, error);
      this.flushSoon(retryMs);
      throw error;
    } finally {
      this.inFlight = null;
    }
  }

  /** Ids of the jobs whose outcome waits here: the node still holds them. */
  pendingIds(): string[] {
    return this.outcomes.map((outcome) => outcome.id);
  }

  /** The backend answers again (a wake-up after a reconnect): retry a failed flush now. */
  retryNow(): void {
    if (this.failures > 0 && this.outcomes.length > 0) this.flushSoon(0);
  }

  /** Drops the retry timer (shutdown); pending outcomes stay readable for a final flush. */
  stopTimers(): void {
    this.timer?.cancel();
    this.timer = null;
  }
}
