import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS } from '../../src/clock.js';
import { retryDelayMs } from '../../src/engine/retry-backoff.js';

const top = () => 0.999_999_999;
const bottom = () => 0;

describe('retry backoff', () => {
  it('fixed: the base every time, no jitter, at most the max', () => {
    const options = { taskFailRetryDelay: 500 };
    expect([1, 2, 5].map((attempt) => retryDelayMs(options, attempt, top))).toEqual([500, 500, 500]);
    expect(retryDelayMs({ ...options, taskRetryBackoff: 'fixed', taskRetryDelayMax: 200 }, 3, top)).toBe(200);
    expect(retryDelayMs({ ...options, taskRetryDelayMax: 0 }, 3, top)).toBe(500);
  });

  it('exponential: full jitter up to base * 2^(attempt-1), capped by the max', () => {
    const options = { taskFailRetryDelay: 100, taskRetryBackoff: 'exponential' as const };
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(options, attempt, top))).toEqual([100, 200, 400, 800]);
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(options, attempt, bottom))).toEqual([0, 0, 0, 0]);
    expect(retryDelayMs(options, 3, () => 0.5)).toBe(200);
    expect(retryDelayMs({ ...options, taskRetryDelayMax: 300 }, 4, top)).toBe(300);
  });

  it('never exceeds the longest timer, however many attempts', () => {
    const options = { taskFailRetryDelay: 1_000, taskRetryBackoff: 'exponential' as const };
    expect(retryDelayMs(options, 5_000, top)).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(retryDelayMs(options, 5_000, top)).toBeGreaterThan(MAX_TIMER_MS - 10);
    expect(retryDelayMs({ ...options, taskFailRetryDelay: 0 }, 5_000, top)).toBe(0);
  });
});
