/**
 * Events are emitted from the middle of the farm's bookkeeping (a worker half replaced, a batch
 * of answers half settled). A listener that throws must not cut that short: each listener is
 * called on its own, and an error it throws is rethrown on the next tick, where it surfaces as
 * an uncaught exception (as a throw in a timer callback would) once the farm is consistent.
 */
import type { EventEmitter } from 'node:events';

/** Emits `event` to every listener of `emitter`; returns whether there was any. */
export function emitSafely(emitter: EventEmitter, event: string, args: readonly unknown[]): boolean {
  // rawListeners: calling a once() wrapper also removes it, as emit() would.
  const listeners = emitter.rawListeners(event) as ((...args: unknown[]) => unknown)[];
  for (const listener of listeners) callSafely(() => Reflect.apply(listener, emitter, args));
  return listeners.length > 0;
}

/** Runs user code (a listener, a callback) so that whatever it throws comes out later, on its own. */
export function callSafely(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
  }
}
