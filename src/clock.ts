/**
 * Time as deflow reads it. The engine (and the embedded backend) read time and set timers
 * only through a Clock, so tests can drive time with a TestClock instead of sleeping;
 * production uses the system clock.
 *
 * Backends that own a clock (Redis `TIME`, PostgreSQL `now()`) decide leases and due times on
 * it; a Clock is what one process uses for its own timers and durations.
 */

/** A scheduled callback; `cancel()` is idempotent. */
export interface ClockTimer {
  cancel(): void;
}

export interface TimerOptions {
  /** Let the process exit while only this timer is pending (Node's `unref`). Default false. */
  unref?: boolean;
}

export interface Clock {
  /** Wall time, epoch milliseconds. */
  now(): number;
  /** Milliseconds on a clock that never goes back: for durations and "how long since". */
  monotonic(): number;
  /** Calls `callback` once, `ms` from now. */
  after(ms: number, callback: () => void, options?: TimerOptions): ClockTimer;
  /** Calls `callback` every `ms` until cancelled. */
  every(ms: number, callback: () => void, options?: TimerOptions): ClockTimer;
}

/** Node's own timers cap a delay at 2^31-1 ms; longer waits are split so they never fire early. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay Node's timers hold as given. Options are checked at the API, so this is a last line
 * of defence against what Node would turn into 1 ms (NaN, above the cap): a repeating timer
 * must never become a busy loop.
 */
function timerDelay(ms: number, min: number, ifNaN: number): number {
  if (Number.isNaN(ms)) return ifNaN;
  return Math.max(min, Math.min(ms, MAX_TIMER_MS));
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  after(ms, callback, options) {
    let handle: NodeJS.Timeout;
    let cancelled = false;
    const arm = (left: number): void => {
      handle = setTimeout(
        () => {
          if (cancelled) return;
          if (left > MAX_TIMER_MS) arm(left - MAX_TIMER_MS);
          else callback();
        },
        timerDelay(left, 0, 0),
      );
      if (options?.unref === true) handle.unref();
    };
    arm(Number.isNaN(ms) ? 0 : ms);
    return {
      cancel() {
        cancelled = true;
        clearTimeout(handle);
      },
    };
  },
  every(ms, callback, options) {
    const handle = setInterval(callback, timerDelay(ms, 1, MAX_TIMER_MS));
    if (options?.unref === true) handle.unref();
    return { cancel: () => clearInterval(handle) };
  },
};

interface PendingTimer {
  id: number;
  at: number;
  /** Repeat interval, or null for a one-shot timer. */
  every: number | null;
  callback: () => void;
}

/**
 * A clock that moves only when told to. Timers fire in due order (ties in creation order)
 * while `advance` walks time forward; `advance` awaits between firings so promise chains a
 * callback starts can settle and schedule more timers that fall within the same advance.
 */
export class TestClock implements Clock {
  #now: number;
  #monotonic = 0;
  #nextId = 1;
  readonly #timers = new Map<number, PendingTimer>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#monotonic;
  }

  after(ms: number, callback: () => void): ClockTimer {
    return this.#add(ms, null, callback);
  }

  every(ms: number, callback: () => void): ClockTimer {
    return this.#add(ms, Math.max(1, ms), callback);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#monotonic + ms;
    for (;;) {
      await settle();
      const next = this.#earliest();
      if (next === undefined || next.at > target) break;
      this.#moveTo(next.at);
      if (next.every === null) this.#timers.delete(next.id);
      else next.at += next.every;
      next.callback();
    }
    this.#moveTo(target);
    await settle();
  }

  #add(ms: number, every: number | null, callback: () => void): ClockTimer {
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#monotonic + Math.max(0, ms), every, callback });
    return { cancel: () => this.#timers.delete(id) };
  }

  #earliest(): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const timer of this.#timers.values()) {
      if (best === undefined || timer.at < best.at || (timer.at === best.at && timer.id < best.id)) best = timer;
    }
    return best;
  }

  #moveTo(monotonic: number): void {
    this.#now += monotonic - this.#monotonic;
    this.#monotonic = monotonic;
  }
}

/** Lets pending promise callbacks (and one round of I/O callbacks) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
