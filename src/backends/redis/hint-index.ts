/**
 * The per-prefix "runnable" hints: which workflows may have claimable jobs, and from when.
 * Workflow scripts cannot write them (other cluster slot), so each script that creates work
 * returns the workflow's new work version and earliest ready time, and this class posts the
 * hint in a second call, then publishes the `work` events (so a node woken by an event finds
 * the hint). Hints are a superset: readers check the workflow and drop hints that lead to
 * nothing, unless newer work was hinted meanwhile (work versions; see drop-hint.lua).
 *
 * A hint lost with a crash between the two calls is restored by reconciliation (every
 * node's recovery round checks a slice of the unfinished workflows), and this process also
 * remembers workflows that recently had work, which runnableSteps checks directly: a node
 * finds the next step of its own workflow in one round trip.
 *
 * Failed posts stay queued and go out with the next one or after a short delay.
 */
import createDebug from 'debug';
import type { BackendEvent, WakeEvent, WorkEvent } from '../backend.js';
import type { KeySpace } from './keys.js';
import type { BatchCall, Scripts } from './scripts.js';

const debug = createDebug('deflow:redis:hints');

/** Workflows remembered as recently having work, checked first by runnableSteps. */
const RECENT_LIMIT = 64;

interface PendingHint {
  at: number;
  wv: number;
}

export class HintIndex {
  private readonly hints = new Map<string, PendingHint>();
  private readonly finished = new Map<string, string>();
  private events: (WorkEvent | WakeEvent)[] = [];
  /** Work events this process's engine already has (from complete()): others need them, it does not. */
  private quiet: (WorkEvent | WakeEvent)[] = [];
  private readonly recent = new Map<string, number>();
  private inFlight: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly scripts: Scripts,
    private readonly keys: KeySpace,
    /** Marks messages this process must not deliver to itself again. */
    private readonly origin: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * A workflow script created work: hint it (and publish its work events) soon. `echo`
   * false: the caller hands the events to the local engine itself, so they are published
   * for the other processes only.
   */
  add(workflowId: string, at: number, wv: number, events: readonly BackendEvent[], echo = true): void {
    const known = this.hints.get(workflowId);
    if (known === undefined) this.hints.set(workflowId, { at, wv });
    else this.hints.set(workflowId, { at: Math.min(known.at, at), wv: Math.max(known.wv, wv) });
    for (const event of events) {
      if (event.type === 'work' || event.type === 'wake') (echo ? this.events : this.quiet).push(event);
    }
    this.remember(workflowId);
  }

  /** A workflow finished: leave the active and runnable indexes, enter the expiry index. */
  finish(workflowId: string, expireAt: string): void {
    this.finished.set(workflowId, expireAt);
    this.hints.delete(workflowId);
    this.recent.delete(workflowId);
  }

  remember(workflowId: string): void {
    this.recent.delete(workflowId);
    this.recent.set(workflowId, Date.now());
    if (this.recent.size > RECENT_LIMIT) {
      const oldest = this.recent.keys().next();
      if (oldest.done !== true) this.recent.delete(oldest.value);
    }
  }

  forget(workflowId: string): void {
    this.recent.delete(workflowId);
  }

  /** Workflows to check first, most recent first. */
  recentIds(): string[] {
    return [...this.recent.keys()].reverse();
  }

  /**
   * Sends what is pending after the current turn of the event loop: what the caller's engine
   * does next with a script's answer (usually claiming the step it just learned about) goes
   * to Redis first, and the hints of several scripts share one write.
   */
  flushSoon(): void {
    if (this.immediate !== null || this.closed) return;
    this.immediate = setImmediate(() => {
      this.immediate = null;
      void this.flush();
    });
  }

  /** Sends everything pending; resolves when it is written (or failed and queued again). */
  flush(): Promise<void> {
    if (this.inFlight !== null) {
      return this.inFlight.then(() => (this.pending() ? this.flush() : undefined));
    }
    if (!this.pending()) return Promise.resolve();
    const hints = [...this.hints];
    const finished = [...this.finished];
    const events = this.events;
    const quiet = this.quiet;
    this.hints.clear();
    this.finished.clear();
    this.events = [];
    this.quiet = [];
    const g = this.keys.global;
    const calls: BatchCall[] = finished.map(([id, expireAt]) => ({
      script: 'finished',
      keys: [g.active, g.runnable, g.hintv, g.expiry, g.wqueues],
      args: [id, expireAt],
    }));
    if (hints.length > 0 || events.length > 0 || quiet.length > 0) {
      const args: (string | number)[] = [
        this.keys.channel,
        events.length === 0 ? '' : JSON.stringify(events),
        quiet.length === 0 ? '' : JSON.stringify({ origin: this.origin, events: quiet }),
      ];
      for (const [id, hint] of hints) args.push(id, hint.at, hint.wv);
      calls.push({ script: 'hint', keys: [g.runnable, g.hintv, g.wqueues], args });
    }
    const sent = this.scripts.batch(calls).then((replies) => {
      const failed = replies.find((reply): reply is Error => reply instanceof Error);
      if (failed !== undefined) throw failed;
    });
    this.inFlight = sent.then(
      () => {
        this.inFlight = null;
        this.failures = 0;
      },
      (error: unknown) => {
        this.inFlight = null;
        // Keep them for the next attempt (newer entries win).
        for (const [id, hint] of hints) if (!this.hints.has(id) && !this.finished.has(id)) this.hints.set(id, hint);
        for (const [id, expireAt] of finished) if (!this.finished.has(id)) this.finished.set(id, expireAt);
        this.events = events.concat(this.events);
        this.quiet = quiet.concat(this.quiet);
        this.failures++;
        debug('posting %d hints failed (attempt %d): %O', hints.length, this.failures, error);
        if (this.failures === 1) this.onError(error);
        this.scheduleRetry();
      },
    );
    return this.inFlight;
  }

  /** Drops or re-scores hints that led to nothing (see drop-hint.lua). */
  async drop(entries: readonly { workflowId: string; wv: number; nextAt: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const g = this.keys.global;
    const args: (string | number)[] = [];
    for (const entry of entries) args.push(entry.workflowId, entry.wv, entry.nextAt);
    await this.scripts.run('drop-hint', [g.runnable, g.hintv, g.wqueues], args);
  }

  /** Retries queued posts now (the connection is back). */
  retrySoon(): void {
    if (this.pending()) void this.flush();
  }

  /** Stops retrying; waits for a post in flight (only then does it yield to the event loop). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
      if (this.pending()) await this.flush();
    }
    if (this.inFlight !== null) await this.inFlight;
  }

  private pending(): boolean {
    return this.hints.size + this.finished.size + this.events.length + this.quiet.length > 0;
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== null) return;
    const delay = Math.min(2_000, 50 * 2 ** Math.min(this.failures, 6));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.flush();
    }, delay);
    this.retryTimer.unref();
  }
}
