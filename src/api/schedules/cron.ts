/**
 * Cron expressions as deflow reads them, through croner: 5 fields (minute first) or 6 (seconds
 * first), read in an IANA time zone (UTC by default). One place turns a stored schedule into
 * tick instants, so every node computes the same ticks.
 */
import { Cron } from 'croner';
import { ValidationError } from '../../errors.js';
import { describe } from '../../option-checks.js';

/** The tick instants of one cron expression in one time zone. */
export interface CronTicks {
  /** The first tick strictly after `afterMs` (epoch ms), or null when there is none. */
  next(afterMs: number): number | null;
  /** Up to `count` ticks at or before `untilMs`, the most recent first. */
  latest(count: number, untilMs: number): number[];
}

/** Checks a time zone name by asking Intl, which knows the same IANA zones croner reads. */
export function checkTimezone(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ValidationError(`${where} must be an IANA time zone name such as "Europe/Paris", got ${describe(value)}`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
  } catch {
    throw new ValidationError(`${where}: unknown time zone ${JSON.stringify(value)}; use an IANA name such as "Europe/Paris", "America/New_York" or "UTC"`);
  }
  return value;
}

/**
 * Parses `expression` (ValidationError saying what is wrong when it does not parse, or when it
 * can never tick).
 */
export function parseCron(expression: unknown, timezone: string | null, where: string): CronTicks {
  if (typeof expression !== 'string' || expression.trim().length === 0) {
    throw new ValidationError(`${where} must be a cron expression such as "*/5 * * * *" (5 fields, minute first) or "*/10 * * * * *" (6, seconds first), got ${describe(expression)}`);
  }
  let cron: Cron;
  try {
    cron = new Cron(expression, { paused: true, mode: '5-or-6-parts', timezone: timezone ?? 'UTC' });
  } catch (error) {
    throw new ValidationError(
      `${where} ${JSON.stringify(expression)} does not parse (${(error as Error).message}); ` +
        'write 5 fields "minute hour day-of-month month day-of-week" or 6 with seconds first, e.g. "0 */15 * * * *"',
    );
  }
  const ticks: CronTicks = {
    next(afterMs) {
      const next = cron.nextRun(new Date(afterMs));
      return next === null ? null : next.getTime();
    },
    latest(count, untilMs) {
      // croner's previous runs are strictly before the reference: one millisecond on includes untilMs.
      return cron.previousRuns(count, new Date(untilMs + 1)).map((date) => date.getTime());
    },
  };
  if (ticks.next(Date.now()) === null) throw new ValidationError(`${where} ${JSON.stringify(expression)} never ticks again (a date that has passed or does not exist); check its fields`);
  return ticks;
}

/**
 * Ticks in (afterMs, untilMs], oldest first: the `limit` most recent of them (read backwards
 * from untilMs, so a long gap costs no more than a short one).
 */
export function ticksBetween(cron: CronTicks, afterMs: number, untilMs: number, limit: number): number[] {
  if (untilMs <= afterMs) return [];
  return cron
    .latest(limit, untilMs)
    .filter((tick) => tick > afterMs)
    .reverse();
}
