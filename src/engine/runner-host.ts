/** What a StepRunner needs from the node that owns it. */
import type { Backend, ClaimedJob } from '../backends/backend.js';
import type { Clock } from '../clock.js';
import type { CompletionBatcher } from './completion-batcher.js';
import type { ExecutionHooks } from './executor.js';
import type { WorkerNode } from './node.js';
import type { StepRunner } from './step-runner.js';
import type { ViewFactory } from './types.js';

export interface RunnerHost {
  readonly node: WorkerNode;
  readonly nodeId: string;
  readonly backend: Backend;
  readonly batcher: CompletionBatcher;
  readonly views: ViewFactory;
  readonly executionHooks: ExecutionHooks;
  readonly maxBatch: number;
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
  onRunnerIdle(runner: StepRunner): void;
  onClaimError(runner: StepRunner, error: unknown): void;
  releaseJobs(jobs: readonly ClaimedJob[]): void;
}
