/**
 * Lets a problem through once per interval: a connection blip fails every step runner's claim
 * at once, and one report says as much as hundreds.
 */
import type { Clock } from '../clock.js';

export class RepeatFilter {
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly clock: Clock,
  ) {}

  /** True the first time this problem (what failed, and its message) is seen in the interval. */
  isFresh(during: string, error: unknown): boolean {
    const key = `${during}\0${error instanceof Error ? error.message : String(error)}`;
    const now = this.clock.monotonic();
    if (now - (this.lastSeen.get(key) ?? -Infinity) < this.intervalMs) return false;
    if (this.lastSeen.size > 100) this.lastSeen.clear();
    this.lastSeen.set(key, now);
    return true;
  }
}
