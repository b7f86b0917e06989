/**
 * The records a backend stores and returns. Plain JSON-friendly shapes: no backend type
 * (row, Redis hash, pg result) ever crosses the contract.
 */
import type { SerializedError } from '../errors.js';

/**
 * Lifecycle of a workflow (docs/backends/step-machine.md#states): `paused` sits beside
 * `running` (nothing is claimed); `succeeded`, `failed` and `cancelled` are final.
 */
export type WorkflowStatus = 'pending' | 'running' | 'paused' | 'succeeded' | 'failed' | 'cancelled';

/** Lifecycle of a step (docs/backends/step-machine.md#states). */
export type StepStatus = 'waiting' | 'running' | 'succeeded' | 'failed' | 'skipped';

/** Where a running step is, in this order (docs/backends/step-machine.md#states). */
export type StepStage = 'before' | 'before-children' | 'tasks' | 'tasks-children' | 'after' | 'after-children' | 'done';

/** The part of the step lifecycle a job belongs to; `addAfter` anchors new steps to the phase that called it. */
export type JobKind = 'task' | 'before' | 'after';

export type JobStatus = 'ready' | 'leased' | 'succeeded' | 'failed';

/** Edge condition of a dependency. */
export type DependencyCondition = 'success' | 'failure' | 'always';

export interface StepDependency {
  /** Id of the step depended on (same workflow). */
  stepId: string;
  on: DependencyCondition;
}

/** How nodes find the code of a step. */
export interface HandlerRef {
  /** Registry key: the handler's explicit name, or `<module url>#<ordinal>`. */
  key: string;
  /** Module to import when the key is not registered in this process. */
  module?: string;
  /**
   * Set for a handler defined in the script its process was started with (a file URL): only
   * processes started from that same script run it, whatever other programs name their handlers.
   */
  entry?: string;
  /** Does the handler define beforeAll / afterAll? Unknown (true) when the creator could not load it. */
  hasBeforeAll: boolean;
  hasAfterAll: boolean;
}

/** Step options after defaults were applied. */
export interface ResolvedStepOptions {
  /** Tasks of this step one node runs at once. */
  taskConcurrency: number;
  /** Milliseconds before a task attempt fails with a TimeoutError; 0 = no limit. */
  taskTimeout: number;
  /** Total attempts of a task (and of each hook) before it fails for good. */
  taskMaxFailCount: number;
  /** Milliseconds a failed attempt waits before it can be claimed again. */
  taskFailRetryDelay: number;
  /** Times a job may be lost with its node before it fails for good; absent in steps stored before it existed (policy default). */
  maxNodeLosses?: number;
  /** Where the task handler runs: the node's event loop (absent or 'none'), or its pool of threads / processes. */
  isolation?: 'none' | 'thread' | 'process';
  /** How retry delays grow: 'fixed' (absent) waits taskFailRetryDelay each time, 'exponential' doubles it, with full jitter. */
  taskRetryBackoff?: 'fixed' | 'exponential';
  /** Longest retry delay in milliseconds; 0 or absent = no limit. */
  taskRetryDelayMax?: number;
  /** Events the step waits for before it starts (beside its dependencies); absent or empty: none. */
  waitFor?: string[];
  /** Milliseconds it waits for them once its dependencies are done, then it fails (ERR_TIMEOUT); absent: forever. */
  waitTimeout?: number;
  /** Most attempts of the step leased at once across all nodes; absent = no limit. */
  globalConcurrency?: number;
  /** Dotted path into task data naming each task's bucket (see NewStep.taskBuckets); with keyConcurrency. */
  concurrencyKey?: string;
  /** Most attempts leased at once per bucket, across all nodes and workflows. */
  keyConcurrency?: number;
  /** Name of the rate limit every task start of this step counts against (DeFlow.setRateLimit); absent: none. */
  rateLimit?: string;
  /** With rateLimit: dotted path into task data; each value is a bucket of its own (see NewStep.taskRateBuckets). */
  rateLimitKey?: string;
  /** Claim order among runnable steps: higher first; absent = 0. */
  priority?: number;
  /** The named queue of its jobs: only nodes serving it claim them; absent = 'default'. */
  queue?: string;
}

/** Workflow-level options as stored. */
export interface StoredWorkflowOptions {
  /** As the creator asked (for display); backends read `keepMs`. */
  cleanOnDone: boolean;
  /** The `retention` option in milliseconds; null = Infinity (for display; backends read `keepMs`). */
  retentionMs: number | null;
  /**
   * Milliseconds a finished workflow is kept before retention removes it, resolved once by the
   * api from `cleanOnDone` (its grace) and `retentionMs`; null keeps it forever.
   */
  keepMs: number | null;
  /** Step option defaults for every step of this workflow. */
  stepDefaults: Partial<ResolvedStepOptions>;
}

export interface WorkflowRecord {
  id: string;
  name: string;
  /** The business key it was started with (`WorkFlow.create(name, { key })`), or null. */
  key: string | null;
  status: WorkflowStatus;
  options: StoredWorkflowOptions;
  error: SerializedError | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Steps not yet terminal. */
  openSteps: number;
  /** Times the workflow was retried (0 until then); each retry starts a new outcome. */
  retries: number;
}

export interface StepCounts {
  total: number;
  done: number;
  failed: number;
}

export interface StepRecord {
  workflowId: string;
  id: string;
  name: string;
  handler: HandlerRef;
  data: unknown;
  options: ResolvedStepOptions;
  deps: StepDependency[];
  /** addAfter: the step (and phase) this one was inserted after; null for declared steps. */
  anchor: { stepId: string; phase: JobKind; seq: number } | null;
  /** The step whose hook or handler added this one (DeFlow `parentKey`), if any. */
  parentId: string | null;
  /** Position in the declared list (declared steps) or insertion order (added steps). */
  declIndex: number;
  /** Execution order, assigned atomically when the step starts; null until then. */
  runIndex: number | null;
  status: StepStatus;
  stage: StepStage;
  counts: StepCounts;
  error: SerializedError | null;
  startedAt: number | null;
  finishedAt: number | null;
  /**
   * When a step with a `delay` or `startAt` may start (backend clock, epoch ms): set once its
   * dependencies are done (its turn came); a `waiting` step with it waits for that time. Null
   * for a step without a timer, or before its turn.
   */
  readyAt: number | null;
  /**
   * Set while a step with `waitFor` is held back only by its events (its dependencies are
   * done): since when, and when its waitTimeout runs out (null: never).
   */
  eventWait: { since: number; dueAt: number | null } | null;
}

/** An event a workflow received (step.emit, workflow.signal, DeFlow.emit). */
export interface EventRecord {
  /** Unique per workflow: the caller's id, or one derived from the emitting job. */
  id: string;
  name: string;
  /** JSON text of its data (`null` when none was given). */
  dataJson: string;
  /** When the workflow received it (backend clock). */
  at: number;
}

export interface TaskRecord {
  /** `<stepId>:<seq>` */
  id: string;
  workflowId: string;
  stepId: string;
  seq: number;
  /** Task data as JSON text. */
  dataJson: string;
  status: JobStatus;
  /** Failed attempts so far (handler failures; node losses are counted apart). */
  failedCount: number;
  /** Times it was lost with its node (node killed or frozen past its lease); see the step option maxNodeLosses. */
  lostCount: number;
  /** Result as JSON text; null when there is none (not finished, failed, or the handler returned undefined). */
  resultJson: string | null;
  error: SerializedError | null;
  finishedAt: number | null;
}

export interface NodeRecord {
  id: string;
  host: string;
  pid: number;
  startedAt: number;
  heartbeatAt: number;
  leaseExpiresAt: number;
  /** Handler keys the node announced it can run (informational). */
  handlers: string[];
  /** Queues the node serves (`['default']` for nodes registered before queues existed). */
  queues: string[];
}
