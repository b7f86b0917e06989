/**
 * What a StepRunner needs from the node that owns it, and what the node sees of a runner. A
 * leaf of small interfaces, so the runner does not depend on the node (nor the node's files on
 * each other through it).
 */
import type { ClaimedJob } from '../backends/backend.js';
import type { Clock } from '../clock.js';
import type { SerializedError } from '../errors.js';
import type { CompletionBatcher } from './completion-batcher.js';
import type { ExecutionHooks } from './executor.js';
import type { JobNode, ViewFactory } from './handler-contract.js';

/** A runner as its node sees it when the runner reports back. */
export interface HostedRunner {
  /** Its step (see runnerKey). */
  readonly key: string;
  /** Nothing running, queued or being claimed. */
  readonly idle: boolean;
  /** The last claim came back short: the step has no ready job for it now. */
  readonly isDrained: boolean;
  /** Start queued jobs and claim more. */
  kick(): void;
}

/** The node's side; `backend` (from JobNode) is also what the runner claims from. */
export interface StepRunnerHost extends JobNode {
  readonly nodeId: string;
  readonly batcher: CompletionBatcher;
  readonly views: ViewFactory;
  readonly executionHooks: ExecutionHooks;
  readonly maxBatch: number;
  /** Queues this node serves: discovery and adoption look at their steps only. */
  readonly queues: readonly string[];
  /** Times jobs (the hold target adapts to their duration) and task timeouts. */
  readonly clock: Clock;
  /** False while draining or stopped: runners stop claiming. */
  readonly accepting: boolean;
  /** False while the node's lease may have lapsed: runners start no job until it is renewed. */
  readonly leaseFresh: boolean;
  /** Jobs running or queued on the whole node. */
  activeJobs(): number;
  /** True when the node has not yielded to the event loop for a while. */
  shouldYield(): boolean;
  /** The runner has nothing running or queued. */
  onRunnerIdle(runner: HostedRunner): void;
  onClaimError(runner: HostedRunner, error: unknown): void;
  /** The runner's step may start more jobs in `delayMs` (its rate limit): look for work then. */
  onRateLimited(runner: HostedRunner, delayMs: number): void;
  /** Hands back jobs claimed but never started. */
  releaseJobs(jobs: readonly ClaimedJob[]): void;
  /** A job failed on a corrupt stored record (ERR_CORRUPT_RECORD): the node reports it once. */
  reportCorrupt(error: SerializedError): void;
}
