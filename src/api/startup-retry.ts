/**
 * Opening the backend when a node starts: a server that is down or still starting (the usual
 * case when an app and its database start together) is tried again with exponential backoff and
 * jitter until `startupTimeout` runs out; each retry is reported once, saying where (without
 * the password), why, and when the next attempt comes. A backend that answers but refuses (a
 * wrong password, a missing database, an unwritable SQLite directory) fails at once.
 */
import type { Backend } from '../backends/backend.js';
import type { ChosenBackend } from '../backends/registry.js';
import type { Clock } from '../clock.js';
import { BackendUnavailableError, NotRegisteredError } from '../errors.js';

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5_000;

export interface StartupRetry {
  /** Milliseconds to keep trying; 0 fails at the first refusal. */
  timeoutMs: number;
  clock: Clock;
  /** A failed attempt that will be tried again after `delayMs` (an error that says so). */
  onRetry(error: BackendUnavailableError): void;
  /** Stop trying (the registration is closing). */
  cancelled(): boolean;
  /** Lets the registration cut a wait short: it calls the function it is given when it closes. */
  onCancel(wake: () => void): void;
}

/** Creates and opens the backend, trying again while it is unavailable; the opened backend. */
export async function openBackend(chosen: ChosenBackend, retry: StartupRetry): Promise<Backend> {
  let startedAt: number | undefined;
  for (let attempt = 1; ; attempt++) {
    const backend = await chosen.create();
    // Loading the driver (the first create) is not waiting for the server: on a loaded machine
    // it can outlast a short startupTimeout, which then gave up without a single retry.
    startedAt ??= retry.clock.monotonic();
    try {
      await backend.open();
      return backend;
    } catch (error) {
      const elapsed = retry.clock.monotonic() - startedAt;
      const left = retry.timeoutMs - elapsed;
      if (!(error instanceof BackendUnavailableError) || retry.timeoutMs === 0) throw error;
      await backend.close().catch(() => undefined);
      if (left <= 0) throw gaveUp(chosen, backend, error, elapsed, attempt, retry.timeoutMs);
      const delayMs = Math.max(1, Math.round(Math.min(left, jittered(attempt))));
      retry.onRetry(
        new BackendUnavailableError(
          `${error.message.replace(/\.?\s*$/, '.')} Trying again in ${seconds(delayMs)} (attempt ${attempt} failed; ` +
            `giving up ${seconds(left)} from now, as DeFlow.register options.startupTimeout says).`,
          { cause: error },
        ),
      );
      await pause(retry, delayMs);
    }
    if (retry.cancelled()) throw new NotRegisteredError('DeFlow was unregistered while it waited for its backend');
  }
}

/** Exponential backoff with jitter: half the delay fixed, half random, so nodes started together spread out. */
function jittered(attempt: number): number {
  const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (attempt - 1));
  return delay / 2 + Math.random() * (delay / 2);
}

function pause(retry: StartupRetry, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = retry.clock.after(ms, resolve);
    retry.onCancel(() => {
      timer.cancel();
      resolve();
    });
  });
}

function gaveUp(chosen: ChosenBackend, backend: Backend, last: Error, elapsedMs: number, attempts: number, timeoutMs: number): BackendUnavailableError {
  return new BackendUnavailableError(
    `gave up waiting for ${chosen.label} at ${backend.location} after ${seconds(elapsedMs)} and ${attempts} attempts ` +
      `(DeFlow.register options.startupTimeout is ${timeoutMs} ms); last error: ${last.message.replace(/\.?\s*$/, '.')} ` +
      'Start the server or fix the backend URL, or give startupTimeout more time.',
    { cause: last },
  );
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
