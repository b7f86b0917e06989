/**
 * How long a failed attempt waits before it is tried again: the one place the retry delay is
 * computed (the backends store the due time on their own clock). Node losses are not retries:
 * they wait taskFailRetryDelay, fixed (the node-loss rule).
 */
import { MAX_TIMER_MS } from '../clock.js';
import type { ResolvedStepOptions } from '../backends/records.js';

type BackoffOptions = Pick<ResolvedStepOptions, 'taskFailRetryDelay' | 'taskRetryBackoff' | 'taskRetryDelayMax'>;

/**
 * `attempt`: the failed attempt that will be retried (1 for the first). 'fixed' waits the base
 * every time, without jitter (capped by the max); 'exponential' waits a random time in
 * [0, min(max, base * 2^(attempt-1))] (full jitter: retries of many tasks that failed together
 * spread out instead of hitting the same dependency at once).
 */
export function retryDelayMs(options: BackoffOptions, attempt: number, random: () => number = Math.random): number {
  const base = options.taskFailRetryDelay;
  const max = options.taskRetryDelayMax !== undefined && options.taskRetryDelayMax > 0 ? options.taskRetryDelayMax : MAX_TIMER_MS;
  if (options.taskRetryBackoff !== 'exponential' || base <= 0) return Math.min(base, max);
  // 2^(attempt-1) overflows to Infinity for huge attempt counts; min() brings it back to the cap.
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * (ceiling + 1));
}
