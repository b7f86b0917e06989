/**
 * The timer of a step (addStep / addAfter `delay` and `startAt`), checked at the call. The
 * backend computes the due time on its own clock when the step's turn comes (docs/concepts.md#timers).
 */
import type { NewStep } from '../backends/backend.js';
import { checkKnownKeys, checkObject, duration, instant } from '../option-checks.js';

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

/** Options of step.addTasks(). */
export interface AddTasksOptions {
  /** Milliseconds after the call before the added tasks may start (backend clock); 0: at once. */
  delay?: number;
}

/** The delay of an addTasks call in ms (0 without one). */
export function addTasksDelay(options: AddTasksOptions | undefined): number {
  if (options === undefined) return 0;
  const where = 'step.addTasks() options';
  checkKnownKeys(checkObject(options, where), ['delay'], where);
  return options.delay === undefined ? 0 : duration(options.delay, `${where}: delay`, 0);
}
