/**
 * addTasks / addAfter calls made from a running hook or handler belong to its attempt: the
 * attempt waits for them even when not awaited (see the executor's settleCalls), and a call
 * made after the attempt ended (a forgotten await) is refused with a message that says so,
 * instead of racing the step's next stage.
 */
import { StepClosedError } from '../errors.js';
import type { JobContext } from '../engine/handler-contract.js';

/** A promise that knows whether its caller awaited it or attached a handler (then / catch / finally). */
class ObservedPromise<T> extends Promise<T> {
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  observed = false;

  override then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.observed = true;
    return super.then(onFulfilled, onRejected);
  }
}

export function trackAttemptCall<T>(context: JobContext, method: string, stepName: string, call: () => Promise<T>): Promise<T> {
  if (context.ended === true) {
    const phase = context.job.kind === 'before' ? 'beforeAll' : context.job.kind === 'after' ? 'afterAll' : 'handler';
    return Promise.reject(
      new StepClosedError(
        `${method} was called after the ${phase} of step "${stepName}" that received this step had returned: ` +
          'await every addTasks / addAfter call (an async callback given to forEach is not awaited; use for...of)',
      ),
    );
  }
  const inner = call();
  // Handled here so a call the hook did not await cannot crash the process: the attempt fails with it instead.
  inner.catch(() => undefined);
  const outer = new ObservedPromise<T>((resolve, reject) => {
    inner.then(resolve, reject);
  });
  // Marked handled for Node without counting as the caller observing it.
  void Promise.prototype.then.call(outer, undefined, () => undefined);
  (context.pending ??= []).push({
    settled: inner,
    get observed() {
      return outer.observed;
    },
  });
  return outer;
}
