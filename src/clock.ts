/**
 * Time as deflow reads it. Engine timing and the embedded backend go through a Clock so
 * tests can drive time; production uses the system clock.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
