/**
 * Rules of the step machine that are policy rather than mechanism, defined once here and
 * handed to every backend's machine as parameters (docs/backends/step-machine.md).
 */

/**
 * A job taken back from a dead node fails for good only when
 * `failedCount + 1 >= max(taskMaxFailCount, NODE_LOSS_MIN_ATTEMPTS)`: a crash need not be the
 * job's fault, so it always gets one more attempt; a job that takes its node down twice fails.
 */
export const NODE_LOSS_MIN_ATTEMPTS = 2;

/** Whether a job lost with its node, after `failedCount` failed attempts, fails for good. */
export function lostForGood(failedCount: number, taskMaxFailCount: number): boolean {
  return failedCount + 1 >= Math.max(taskMaxFailCount, NODE_LOSS_MIN_ATTEMPTS);
}
