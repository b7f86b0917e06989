/** How a node is configured, the states it goes through, and what it reports when something fails. */
import type { Clock } from '../clock.js';

export type NodeState = 'created' | 'starting' | 'running' | 'draining' | 'stopped';

export interface NodeOptions {
  /** Run jobs (true) or only create and watch workflows (false). */
  worker: boolean;
  /** Lease of the node over the jobs it holds; renewed every leaseMs / 3. */
  leaseMs: number;
  /** How often this node looks for jobs of dead nodes; 0 disables it on this node. */
  checkProcessQueueInterval: number;
  /** Most jobs claimed or completed in one round trip. */
  maxBatch: number;
  /** Longest an outcome waits for batch-mates while other jobs run. */
  flushDelayMs: number;
  /** Safety net: look for runnable steps this often even without a wake-up. */
  discoverIntervalMs: number;
  /** How long unregister waits for running jobs before aborting them. */
  drainTimeoutMs: number;
  /** Workers per isolation pool (steps with isolation: 'thread' | 'process'). */
  poolSize: number;
  /** Directories this node may import step modules from (module-policy.ts); empty: the working directory. */
  stepDirs?: readonly string[];
  /** Queues whose steps this node runs (step option `queue`); default `['default']`. */
  queues?: readonly string[];
  /** Where the node reads time and sets its timers; the system clock by default. */
  clock?: Clock;
}

export interface NodeProblem {
  /** What the node was doing: heartbeat, claim, complete, discover, recovery, retention... */
  during: string;
  error: unknown;
}
