/**
 * Rules of the step machine that are policy rather than mechanism, defined once here and
 * handed to every backend's machine as parameters (docs/backends/step-machine.md).
 */

/**
 * How many times one task or hook job may be lost with its node before it fails for good
 * (the step option `maxNodeLosses`, docs/backends/step-machine.md#the-node-loss-rule). A lost
 * attempt is not a failed one: a rolling restart must not fail work, but a job that takes its
 * process down every time must not loop forever. Steps stored before the option existed get
 * this default, handed to the machines as a parameter of their recovery.
 */
export const DEFAULT_MAX_NODE_LOSSES = 3;

/** A step's limit: its stored option, or the default for steps stored before it existed. */
export function maxNodeLossesOf(options: { maxNodeLosses?: number }): number {
  return options.maxNodeLosses ?? DEFAULT_MAX_NODE_LOSSES;
}

/** Whether a job lost with its node now, lost `lostCount` times before, fails for good. */
export function lostForGood(lostCount: number, maxNodeLosses: number): boolean {
  return lostCount + 1 >= maxNodeLosses;
}

/**
 * Workflow and step statuses a retry takes up again (the retry transition): a failure, and the
 * end cancel gives. The one list every backend checks, handed to Lua and SQL as a parameter.
 */
export const RETRYABLE_STATUSES: readonly string[] = ['failed', 'cancelled'];
