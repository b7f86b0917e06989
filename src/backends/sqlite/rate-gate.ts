/**
 * The rate-limit rule of the embedded backend, inside the claim's write transaction (so every
 * process sharing the file counts the same starts): a claim of a rate-limited step's tasks
 * starts at most as many as the starts logged in the last `per` milliseconds leave room for,
 * and logs what it started. docs/backends/step-machine.md (the claim rule) specifies it.
 */
import type { Statements } from './statements.js';

/** What a rate limit allows a claim now; null when the limit is not set. */
export interface RateRoom {
  name: string;
  perMs: number;
  /** Starts allowed now. */
  room: number;
  /** Oldest start still in the window (null when none). */
  oldest: number | null;
}

export function rateRoom(q: Statements, name: string, now: number): RateRoom | null {
  const limit = q.rateLimitByName.get(name) as { max: number; per_ms: number } | undefined;
  if (limit === undefined) return null;
  const since = now - limit.per_ms;
  q.pruneRateStarts.run({ name, since });
  const window = q.rateWindow.get({ name, since }) as { used: number; oldest: number | null };
  return { name, perMs: limit.per_ms, room: Math.max(0, limit.max - window.used), oldest: window.oldest };
}

/**
 * Logs `started` starts at `now`; returns the milliseconds until the next start is allowed when
 * the limit cut the claim short (it asked for more than the room), else undefined.
 */
export function logStarts(q: Statements, gate: RateRoom, asked: number, started: number, now: number): number | undefined {
  if (started > 0) q.logRateStarts.run(gate.name, now, started);
  if (asked <= gate.room || started < gate.room) return undefined; // not cut short by the limit
  const oldest = Math.min(gate.oldest ?? now, now);
  return Math.max(0, oldest + gate.perMs - now);
}

/**
 * A keyed rate limit (rateLimit: { name, key }) inside one claim: each task's rate bucket is
 * held to the limit's max per perMs on its own, checked task by task as the limited claim walks
 * its candidates, and what the claim took is logged per bucket at the end.
 */
export class RateBuckets {
  private readonly windows = new Map<string, { used: number; oldest: number | null }>();
  private readonly taken = new Map<string, number>();
  /** Milliseconds until a bucket that refused a task allows a start again (undefined: none refused). */
  waitMs: number | undefined;

  private constructor(
    private readonly q: Statements,
    private readonly name: string,
    private readonly max: number,
    private readonly perMs: number,
    private readonly now: number,
  ) {}

  /** The limit's buckets as of now; null when the limit is not set. */
  static open(q: Statements, name: string, now: number): RateBuckets | null {
    const limit = q.rateLimitByName.get(name) as { max: number; per_ms: number } | undefined;
    return limit === undefined ? null : new RateBuckets(q, name, limit.max, limit.per_ms, now);
  }

  /** Can a task of this bucket start now? (A task without a bucket is not checked: it fails when it runs.) */
  fits(bucket: string | null): boolean {
    if (bucket === null) return true;
    let window = this.windows.get(bucket);
    if (window === undefined) {
      const since = this.now - this.perMs;
      this.q.pruneRateBucketStarts.run({ bucket, since });
      window = this.q.rateBucketWindow.get({ bucket, since }) as { used: number; oldest: number | null };
      this.windows.set(bucket, window);
    }
    const taken = this.taken.get(bucket) ?? 0;
    if (window.used + taken < this.max) return true;
    const oldest = Math.min(window.oldest ?? this.now, this.now);
    const wait = Math.max(0, oldest + this.perMs - this.now);
    this.waitMs = this.waitMs === undefined ? wait : Math.min(this.waitMs, wait);
    return false;
  }

  took(bucket: string | null): void {
    if (bucket !== null) this.taken.set(bucket, (this.taken.get(bucket) ?? 0) + 1);
  }

  /** Logs the claim's starts, one entry per bucket. */
  log(): void {
    for (const [bucket, n] of this.taken) this.q.logRateBucketStarts.run(this.name, bucket, this.now, n);
  }
}
