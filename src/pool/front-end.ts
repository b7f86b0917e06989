/**
 * What a front end built on the pool (deflow/workestrator) may change in how a farm behaves.
 * Not part of deflow/pool's documented API: a farm made by createFarm() uses none of it.
 */
import type { FarmEvents } from './farm-events.js';

/** One event and its arguments, as a tuple: `['exit', worker, code, signal]`. */
export type FarmEvent = { [E in keyof FarmEvents]: [event: E, ...args: FarmEvents[E]] }[keyof FarmEvents];

export interface FarmFrontEnd {
  /** Errors thrown by the function use the call's retries too, like worker failures. */
  readonly retryThrownErrors?: boolean;
  /** A worker stopped for idleness is replaced at once, instead of when calls come. */
  readonly replaceIdleWorkers?: boolean;
  /** The first workers are spawned inside the constructor, so `workers` lists them at once. */
  readonly startAtOnce?: boolean;
  /** Sees every event (errors included, listened to or not) before the farm's listeners do. */
  observe?(...event: FarmEvent): void;
  /** Whether `observe` wants 'message' events, which are built only when someone does. */
  wantsMessages?(): boolean;
}
