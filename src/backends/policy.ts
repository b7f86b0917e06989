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

/**
 * The queue of a step that names none (and of steps stored before queues existed), and the one
 * queue of a node that lists none. Backends store no queue for it, so their indexes read an
 * absent queue as this one.
 */
export const DEFAULT_QUEUE = 'default';
export const DEFAULT_QUEUES: readonly string[] = Object.freeze([DEFAULT_QUEUE]);

/** A step's queue: its stored option, or the default. */
export function queueOf(options: { queue?: unknown }): string {
  return typeof options.queue === 'string' && options.queue !== '' ? options.queue : DEFAULT_QUEUE;
}

/** Whether a node serving `queues` (absent: the default queue) runs a step with these options. */
export function servesStep(queues: readonly string[] | undefined, options: { queue?: unknown }): boolean {
  return (queues ?? DEFAULT_QUEUES).includes(queueOf(options));
}
