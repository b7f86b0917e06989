/**
 * One unref'd timer for "call me again at the earliest of these times": asking for a later
 * time than the one set changes nothing, an earlier one replaces it.
 */
export class EarliestTimer {
  private pending: { at: number; timer: NodeJS.Timeout } | null = null;

  constructor(private readonly fire: () => void) {}

  in(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.pending !== null && this.pending.at <= at) return;
    this.cancel();
    const timer = setTimeout(() => {
      this.pending = null;
      this.fire();
    }, delayMs);
    timer.unref();
    this.pending = { at, timer };
  }

  cancel(): void {
    if (this.pending !== null) clearTimeout(this.pending.timer);
    this.pending = null;
  }
}
