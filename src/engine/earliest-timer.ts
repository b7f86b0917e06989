/**
 * One unref'd timer for "call me again at the earliest of these times": asking for a later
 * time than the one set changes nothing, an earlier one replaces it.
 */
import type { Clock, ClockTimer } from '../clock.js';

export class EarliestTimer {
  private pending: { at: number; timer: ClockTimer } | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  in(delayMs: number): void {
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
