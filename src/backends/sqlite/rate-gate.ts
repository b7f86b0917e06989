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
