/**
 * Counting what a workflow handle reports, for tests where the backend restarts under it:
 * every 'step' event per step and every 'done', so a test can demand exactly one of each.
 */
import { WorkFlow } from '../../src/index.js';
import { armFault } from '../../src/fault-points.js';
import echo from '../fixtures/steps/echo.js';

export interface CountedRun {
  workflow: WorkFlow;
  /** 'step' events per step id. */
  steps: Map<string, number>;
  done(): number;
}

/** Runs a chain of `length` one-task steps (each task takes `ms`), counting the handle's events. */
export function runCountedChain(name: string, length: number, ms: number): CountedRun {
  let builder = WorkFlow.create(name);
  for (let i = 1; i <= length; i++) builder = builder.addStep({ name: `s${i}`, step: echo, tasks: [{ value: i, ms }] });
  const steps = new Map<string, number>();
  let done = 0;
  builder.on('step', (step) => steps.set(step.stepId, (steps.get(step.stepId) ?? 0) + 1));
  builder.on('done', () => done++);
  builder.run();
  return { workflow: builder, steps, done: () => done };
}

/**
 * Freezes this process for `ms` when its event connection is back after a loss, before it
 * subscribes again: events published meanwhile (by other processes) never reach it; then runs
 * `thenSynchronously`, still before it subscribes. Returns how many times it froze so far.
 */
export function freezeOnEventsReconnect(ms: number, thenSynchronously?: () => void): () => number {
  let frozen = 0;
  armFault('events:reconnected', () => {
    frozen++;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    thenSynchronously?.();
  });
  return () => frozen;
}

/** `promise`, or a rejection saying what did not happen within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
