/**
 * One unref'd timer for "call me again at the earliest of these times": asking for a later
 * time than the one set changes nothing, an earlier one replaces it. A wait longer than one
 * timer can hold (a step's startAt months away) fires after MAX_TIMER_MS instead: the caller
 * asks the backend again then, so its clock, not this process's, decides when the time came.
 */
import { MAX_TIMER_MS } from '../clock.js';
import type { Clock, ClockTimer } from '../clock.js';

export class EarliestTimer {
  private pending: { at: number; timer: ClockTimer } | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  in(requestedMs: number): void {
    const delayMs = Math.min(Math.max(0, requestedMs), MAX_TIMER_MS);
    const at = this.clock.monotonic() + delayMs;
    if (this.pending !== null && this.pending.at <= at) return;
    this.cancel();
    const timer = this.clock.after(
      delayMs,
      () => {
        this.pending = null;
        this.fire();
      },
      { unref: true },
    );
    this.pending = { at, timer };
  }

  cancel(): void {
    this.pending?.timer.cancel();
    this.pending = null;
  }
}
