/**
 * The timer of a step (addStep / addAfter `delay` and `startAt`), checked at the call. The
 * backend computes the due time on its own clock when the step's turn comes (docs/concepts.md#timers).
 */
import type { NewStep } from '../backends/backend.js';
import { duration, instant } from '../option-checks.js';

export interface StepTimerParams {
  /** Milliseconds the step waits, once the steps it depends on are done, before it starts (backend clock). */
  delay?: number;
  /** The step starts no earlier than this (a Date or epoch milliseconds, backend clock). */
  startAt?: Date | number;
}

export type StepTimer = Pick<NewStep, 'delayMs' | 'startAt'>;

export const STEP_TIMER_KEYS = ['delay', 'startAt'] as const;

export function checkStepTimer(params: StepTimerParams, where: string): StepTimer {
  const timer: StepTimer = {};
  if (params.delay !== undefined) {
    const delayMs = duration(params.delay, `${where}: delay`, 0);
    if (delayMs > 0) timer.delayMs = delayMs;
  }
  if (params.startAt !== undefined) timer.startAt = instant(params.startAt, `${where}: startAt`);
  return timer;
}
