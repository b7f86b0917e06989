/**
 * The Backend contract: everything the engine asks of a store, in domain words.
 *
 * Rules every implementation follows (the conformance suite in test/conformance checks them):
 * - Batch-first: one round trip per batch. `claim` and `complete` take and return batches, and
 *   `complete` can hand back the next batch of the same step in the same round trip.
 * - Atomic transitions: "last task of a step finished", "successor becomes ready", "workflow
 *   finished" are decided inside one atomic operation (transaction / Lua script), so they fire
 *   exactly once however many nodes race.
 * - Fencing: a claimed job carries a token; only the current token's holder can complete, fail
 *   or release it. A stale outcome is refused (reported in `stale`), never applied.
 * - Time is the backend's: lease expiry and retry delays use the backend's clock.
 * - Payloads (step data, task data, results) cross the contract as JSON text, serialized and
 *   validated once by the engine; the backend stores them as given.
 * - Idempotent by deterministic ids: creating a workflow or step that exists, or adding a task
 *   batch whose `batchKey` was already applied, changes nothing.
 */
import type { SerializedError } from '../errors.js';
import type {
  DependencyCondition,
  EventRecord,
  HandlerRef,
  JobKind,
  NodeRecord,
  ResolvedStepOptions,
  StepDependency,
  StepRecord,
  StepStatus,
  StoredWorkflowOptions,
  TaskRecord,
  WorkflowRecord,
  WorkflowStatus,
} from './records.js';

export type * from './records.js';

/** JSON text produced by the engine's serializer. */
export type Json = string;

export interface NewStep {
  /** Unique within the workflow; deterministic for steps added by addAfter (retries are no-ops). */
  id: string;
  name: string;
  handler: HandlerRef;
  dataJson: Json;
  options: ResolvedStepOptions;
  deps: StepDependency[];
  /** Tasks created with the step. */
  tasksJson: Json[];
  /** Milliseconds the step waits, once its dependencies are done, before it starts (backend clock); 0 or absent = none. */
  delayMs?: number;
  /** Epoch milliseconds (backend clock) before which the step does not start; absent = none. */
  startAt?: number;
  /**
   * With options.concurrencyKey: each task's concurrency bucket (same order as tasksJson),
   * computed once by the engine; null when the task's data has no key (it fails when it runs).
   */
  taskBuckets?: (string | null)[];
  /**
   * With options.rateLimitKey: each task's rate bucket (same order as tasksJson), the JSON text
   * `[<rate limit name>, <key value>]`, computed once by the engine; null when the task's data has
   * no key (it is claimed without a rate check and fails when it runs).
   */
  taskRateBuckets?: (string | null)[];
}

export interface NewWorkflow {
  /** Chosen by the caller or generated; a workflow with this id that exists is left as it is. */
  id: string;
  name: string;
  /** Business key (an order id...): stored, listed and filtered by (WorkflowQuery.key); null for none. */
  key?: string | null;
  options: StoredWorkflowOptions;
  /** Steps in declaration order; those without deps start at once. */
  steps: NewStep[];
  /** Publish a `nextTask` event for every task attempt (somebody listens for them). */
  watchNextTask: boolean;
  /**
   * DeFlow `ifExist: 'replace'`: remove every other workflow with this name, when this one is
   * created (a create that finds its id taken removes nothing).
   */
  replaceByName: boolean;
}

/** An event to deliver to a workflow (docs/backends/step-machine.md, receive). */
export interface NewEvent {
  /** Unique per workflow: an event whose id the workflow already received changes nothing. */
  id: string;
  name: string;
  dataJson: Json;
}

/** Which unfinished workflows a global event goes to. */
export interface BroadcastTarget {
  /** Only those created with this business key (default: all). */
  key?: string;
}

export interface NewAnchoredSteps {
  workflowId: string;
  /** The step whose hook or handler called addAfter. */
  anchorStepId: string;
  /** Which phase called it; the new steps run right after that phase, in call order. */
  phase: JobKind;
  steps: NewStep[];
}

export interface NewTasks {
  workflowId: string;
  stepId: string;
  tasksJson: Json[];
  /** As NewStep.taskBuckets, for these tasks. */
  taskBuckets?: (string | null)[];
  /** As NewStep.taskRateBuckets, for these tasks. */
  taskRateBuckets?: (string | null)[];
  /** Deterministic key of this addTasks call; a batch with a known key is ignored. */
  batchKey?: string;
  /**
   * Milliseconds (> 0) before these tasks may be claimed, counted on the backend's clock when
   * the call lands: they are stored as jobs ready again at that time (as a task waiting for its
   * retry delay), never as fresh tasks a range lease could hand out early.
   */
  delayMs?: number;
}

/**
 * Run a finished workflow again (docs/backends/step-machine.md, the retry transition). Without
 * `fromStepIds` or `onlyStepId`: every declared step that did not succeed is taken up again
 * (a failed one resumes at the stage it failed in, with fresh attempts for its failed jobs) and
 * every step depending on one of them, transitively, is evaluated again from scratch.
 */
export interface RetryRequest {
  workflowId: string;
  /** Declared steps that run again from scratch, with every step depending on them, transitively. */
  fromStepIds?: string[];
  /** Only this declared step's failed work is retried (its dependents evaluated again); other failed steps stay failed. */
  onlyStepId?: string;
}

export interface RetryResult {
  /** How many times the workflow was retried, this retry included (`WorkflowRecord.retries`). */
  retries: number;
  /** Transitions that fired (also published): `work` for the steps that can be claimed again. */
  events: BackendEvent[];
}

export interface ClaimRequest {
  nodeId: string;
  workflowId: string;
  stepId: string;
  /** At most this many jobs. */
  limit: number;
}

/** A job leased to a node. Tasks and hook jobs alike. */
export interface ClaimedJob {
  /** Opaque id, unique in the backend. */
  id: string;
  workflowId: string;
  stepId: string;
  kind: JobKind;
  /** Task position within its step (1-based); 0 for hook jobs. */
  seq: number;
  dataJson: Json;
  /** Failed attempts before this one. */
  failedCount: number;
  /** Times it was lost with its node before this claim (counted apart from failedCount). */
  lostCount: number;
  /** Fencing token: only this claim may record the outcome. */
  token: number;
}

export interface ClaimResult {
  jobs: ClaimedJob[];
  /** Somebody listens for `nextTask` events of this workflow. */
  watchNextTask: boolean;
  /** Current task total of the step (DeFlow `step.taskCount`). */
  taskCount: number;
  /** The step's execution order now (it is assigned when its tasks begin); optional for backends. */
  runIndex?: number;
  /**
   * The step's rate limit let fewer jobs start than asked: milliseconds (backend clock) until
   * its next start is allowed. Absent when the claim was not cut short by a rate limit.
   */
  rateLimitedMs?: number;
  /**
   * The step names a rate limit that is not set: the claimed jobs must fail for good with an
   * `ERR_RATE_LIMIT_UNKNOWN` record (failures.ts `unknownRateLimit`) naming it.
   */
  unknownRateLimit?: string;
}

export interface JobLease {
  id: string;
  workflowId: string;
  stepId: string;
  kind: JobKind;
  seq: number;
  token: number;
}

export type JobOutcome = JobLease &
  (
    | {
        status: 'succeeded';
        /** null when the handler returned undefined. */
        resultJson: Json | null;
        /** A failure of a side hook (afterEach) that does not fail the task, kept for users to see. */
        error: SerializedError | null;
      }
    | {
        /** Failed attempt that will be tried again after `retryDelayMs`. */
        status: 'retry';
        error: SerializedError;
        retryDelayMs: number;
      }
    | {
        /** Failed for good: no attempts left. */
        status: 'failed';
        error: SerializedError;
      }
  );

/**
 * Optional: steps that this completion makes runnable (a chain's next step, a branch) can be
 * claimed in the same round trip, so a step-to-step hop costs one trip instead of three.
 */
export interface AdoptRequest {
  nodeId: string;
  /** Handler keys this node has loaded; only steps with one of these handlers are adopted. */
  handlers: readonly string[];
  /** At most this many jobs per adopted step (the backend also caps at the step's taskConcurrency). */
  limit: number;
  /** Queues this node serves; only steps of one of them are adopted. Absent: `['default']`. */
  queues?: readonly string[];
}

export interface AdoptedStep {
  step: RunnableStep;
  claim: ClaimResult;
}

export interface CompleteRequest {
  outcomes: JobOutcome[];
  /** Events to publish in the same round trip, before the transitions of these outcomes. */
  events?: NextTaskEvent[];
  /** Claim the next batch of this step in the same round trip. */
  next?: ClaimRequest;
  /** Claim the first jobs of steps these outcomes make runnable (backends may ignore it). */
  adopt?: AdoptRequest;
}

export interface DeliverResult {
  delivered: boolean;
  /** Transitions that fired (also published to subscribers). */
  events: BackendEvent[];
  /** Steps adopted for `adopt`, with their first jobs (absent when the backend does not adopt). */
  adopted?: AdoptedStep[];
}

export interface CompleteResult {
  /** Ids of outcomes refused because their token was no longer current. */
  stale: string[];
  /** Transitions that fired, in order (also published to subscribers). */
  events: BackendEvent[];
  /** The next batch, when `next` was asked for. */
  claimed?: ClaimResult;
  /** Steps adopted for `adopt`, with their first jobs (absent when the backend does not adopt). */
  adopted?: AdoptedStep[];
}

/** A step with claimable work, with what a node needs to run its jobs. */
export interface RunnableStep {
  workflowId: string;
  workflowName: string;
  stepId: string;
  name: string;
  handler: HandlerRef;
  dataJson: Json;
  options: ResolvedStepOptions;
  runIndex: number;
  parentId: string | null;
  /** Set by the engine for a step with `waitFor`: the events it waited for (first of each name). */
  events?: EventRecord[];
  /**
   * Set when the stored handler reference or options of the step cannot be used (not JSON, or
   * the wrong shape): `handler` and `options` are stand-ins, and the engine fails its jobs.
   */
  corrupt?: { field: string; reason: string };
}

export interface RunnableSteps {
  steps: RunnableStep[];
  /** The backend's clock when it answered, to turn `nextRunAt` into a local delay. */
  now: number;
  /**
   * Earliest time (backend clock) a delayed job becomes claimable, a step's waitTimeout runs
   * out, or a rate limit that holds back a running step allows its next start, if any.
   */
  nextRunAt: number | null;
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/** Jobs of this step may be claimable now. */
export interface WorkEvent {
  type: 'work';
  workflowId: string;
  stepId: string;
}

export interface StepFinishedEvent {
  type: 'step';
  workflowId: string;
  stepId: string;
  status: StepStatus;
}

export interface WorkflowFinishedEvent {
  type: 'workflow';
  workflowId: string;
  status: WorkflowStatus;
}

/** A node started an attempt of a task (DeFlow `nextTask`). */
export interface NextTaskEvent {
  type: 'nextTask';
  workflowId: string;
  stepId: string;
  taskId: string;
  dataJson: Json;
  attempt: number;
}

/** Somebody started listening for nextTask events of this workflow. */
export interface WatchEvent {
  type: 'watch';
  workflowId: string;
}

/**
 * Something changed in the store but the backend cannot say what (SQLite sees another
 * process commit): idle nodes re-check for runnable steps.
 */
export interface WakeEvent {
  type: 'wake';
}

/**
 * This process's event stream had a gap (its event connection was lost and is back, listening
 * again): events published meanwhile may never arrive. Whoever follows something re-reads it
 * from the store. Delivered by the backend to this process's subscribers, never published.
 */
export interface ResyncEvent {
  type: 'resync';
}

/** A workflow received an event (new to it: a duplicate id fires nothing). */
export interface EventReceivedEvent {
  type: 'event';
  workflowId: string;
  eventId: string;
  name: string;
}

export type BackendEvent = EventReceivedEvent | WorkEvent | StepFinishedEvent | WorkflowFinishedEvent | NextTaskEvent | WatchEvent | WakeEvent | ResyncEvent;

export type EventListener = (event: BackendEvent) => void;

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

export interface WorkflowQuery {
  name?: string;
  /** Only workflows with this business key; backends index it (running workflows by key are looked up often). */
  key?: string;
  status?: WorkflowStatus;
  limit: number;
  /** Page cursor: the `createdAt`/`id` of the last workflow of the previous page (newest first). */
  before?: { createdAt: number; id: string };
}

/** Which workflows `countWorkflows` counts (both given: both must match). */
export interface WorkflowCountQuery {
  name?: string;
  key?: string;
}

/** Workflows by status; a status none has is absent or 0. */
export type WorkflowCounts = Partial<Record<WorkflowStatus, number>>;

export interface TaskPage {
  /** Return tasks with seq greater than this. */
  afterSeq: number;
  limit: number;
}

export interface NewNode {
  id: string;
  host: string;
  pid: number;
  handlers: string[];
  /** Queues whose steps the node runs (docs/concepts.md#queues); absent: `['default']`. */
  queues?: string[];
  leaseMs: number;
}

/** Run control of a workflow (docs/backends/step-machine.md#run-control). */
export type RunControlAction = 'cancel' | 'pause' | 'resume';

export interface RunControlRequest {
  workflowId: string;
  action: RunControlAction;
  /**
   * cancel: the workflow's error, stored as given (an `ERR_WORKFLOW_CANCELLED` record built by
   * `cancelledRecord` in failures.ts, as JSON text). Ignored by pause and resume.
   */
  errorJson?: Json;
}

export interface RunControlResult {
  /** false: the workflow was not in a state the action applies to, and nothing changed. */
  changed: boolean;
  /** The workflow's status after the call. */
  status: WorkflowStatus;
  /** Transitions that fired (also published to subscribers). */
  events: BackendEvent[];
}

/** A named rate limit: at most `max` task starts in any window of `perMs` milliseconds (backend clock). */
export interface RateLimit {
  name: string;
  max: number;
  perMs: number;
}

/** Jobs of one queue (the step option `queue`): claimable now (ready) and held by nodes (leased). */
export interface QueueCount {
  queue: string;
  ready: number;
  leased: number;
}

/** What a schedule starts when its cron ticks (docs/concepts.md#schedules). */
export interface NewSchedule {
  name: string;
  /** Cron expression (5 or 6 fields, seconds first when 6), checked by the api before it is stored. */
  cron: string;
  /** IANA time zone the cron is read in; null: UTC. */
  timezone: string | null;
  /** Name of the workflow definition (defineWorkflow) each tick starts. */
  workflow: string;
  /** The definition's input, as JSON text. */
  inputJson: Json;
  /** 'skip': a tick is not started while the schedule's previous workflow is unfinished. */
  overlap: 'skip' | 'allow';
  /** Ticks missed while no node ran: 'none' skips them, 'latest' fires the most recent once. */
  catchUp: 'none' | 'latest';
}

/** A stored schedule. */
export interface ScheduleRecord extends NewSchedule {
  /** When it was last saved (backend clock): ticks at or before it are never fired. */
  savedAt: number;
  /** The most recent tick claimed (fired or skipped), epoch ms; null: none yet. */
  lastTick: number | null;
  /** The workflow id of the most recent tick that started one; null: none yet. */
  lastWorkflowId: string | null;
}

export interface RecoverResult {
  /** Jobs taken back from dead nodes. */
  recovered: number;
  /** Dead nodes removed. */
  nodesRemoved: number;
  events: BackendEvent[];
}

export interface Backend {
  /** Short name for messages and `deflow ls`: `sqlite`, `redis`, `postgres`. */
  readonly kind: string;
  /** Human-readable location (path or URL without password). */
  readonly location: string;

  /**
   * Connects and migrates (created read-only: checks that the store exists and is current, and
   * changes nothing). Rejects with a clear BackendError when unreachable.
   */
  open(): Promise<void>;
  /** Stops subscriptions and closes connections. Idempotent. */
  close(): Promise<void>;
  /** The backend's clock, in epoch milliseconds. */
  now(): Promise<number>;

  // --- definition ---------------------------------------------------------------------------
  /**
   * Stores a workflow with its steps and tasks and starts its root steps. Idempotent on id:
   * when a workflow with this id exists (however many processes race), nothing is created,
   * removed or changed, and `created` is false; the caller reads the existing one.
   */
  createWorkflow(workflow: NewWorkflow): Promise<{ created: boolean; events: BackendEvent[] }>;
  /** Inserts steps right after the anchor's phase, in call order. Idempotent on step ids. */
  addAnchoredSteps(input: NewAnchoredSteps): Promise<{ added: number }>;
  /**
   * Appends tasks to a step that has not finished its tasks stage. Rejects with a
   * DeflowError code `ERR_STEP_CLOSED` otherwise, and `ERR_NOT_FOUND` for an unknown step.
   */
  addTasks(input: NewTasks): Promise<{ added: number; total: number }>;
  /**
   * Runs a finished workflow again, in one atomic operation, and clears its removal deadline.
   * Rejects with `ERR_NOT_FOUND` (unknown workflow or step id) or `ERR_NOT_RETRYABLE` (still
   * running, nothing failed, or `onlyStepId` names a step that did not fail).
   */
  retryWorkflow(request: RetryRequest): Promise<RetryResult>;
  /** Turns `nextTask` publishing on for a workflow (a handle subscribed to the event). */
  watchNextTask(workflowId: string): Promise<void>;

  // --- work ---------------------------------------------------------------------------------
  /**
   * Steps that have claimable jobs now (a step whose rate limit allows no start now is left
   * out), highest `priority` first, then oldest workflow first, then run index. With `queues`:
   * only steps of those queues (the step option `queue`, `'default'` when absent), found through
   * an index by queue, so a node is never kept from its queue's work by another queue's backlog;
   * without: every queue.
   */
  runnableSteps(limit: number, queues?: readonly string[]): Promise<RunnableSteps>;
  /** Leases up to `limit` ready jobs of one step to a node. */
  claim(request: ClaimRequest): Promise<ClaimResult>;
  /** Records outcomes (fenced), fires transitions, optionally claims the next batch. */
  complete(request: CompleteRequest): Promise<CompleteResult>;
  /** Hands back claimed jobs that were never started; no attempt is counted. */
  release(jobs: JobLease[]): Promise<void>;

  /**
   * Cancels, pauses or resumes a workflow in one atomic operation (null: no such workflow).
   * cancel: `pending` | `running` | `paused` → `cancelled` (finished, its error the given
   * record, every lease of it dropped so late outcomes are stale, a `workflow` event); pause:
   * `pending` | `running` → `paused` (claims return nothing); resume: `paused` → `running`
   * with a `work` event per running step. Any other state: `changed: false`.
   */
  controlWorkflow(request: RunControlRequest): Promise<RunControlResult | null>;

  // --- events between workflows --------------------------------------------------------------
  /**
   * Stores an event for a workflow that has not finished and starts the steps it lets start,
   * in one atomic operation (receive). `delivered: false` when the workflow is unknown or
   * finished, or already received an event with this id. `adopt`: the steps it starts are
   * claimed for that node in the same round trip, as a completion's (backends may ignore it).
   */
  deliverEvent(workflowId: string, event: NewEvent, adopt?: AdoptRequest): Promise<DeliverResult>;
  /**
   * Delivers an event to every workflow that has not finished (`target.key`: only to those with
   * that business key, found through the key index); returns how many received it.
   */
  broadcastEvent(event: NewEvent, target?: BroadcastTarget): Promise<{ delivered: number }>;
  /** Events a workflow received, in arrival order. */
  getEvents(workflowId: string): Promise<EventRecord[]>;

  // --- rate limits --------------------------------------------------------------------------
  /** Creates or changes a rate limit (starts already counted stay counted). */
  setRateLimit(limit: RateLimit): Promise<void>;
  /** Every rate limit, by name. */
  rateLimits(): Promise<RateLimit[]>;
  /** Removes a rate limit and its record of starts; false when there was none. */
  removeRateLimit(name: string): Promise<boolean>;

  // --- schedules ----------------------------------------------------------------------------
  /**
   * Creates or replaces the schedule of this name (`savedAt` becomes the backend's now); its
   * `lastTick` and `lastWorkflowId` are kept. `created`: there was none of this name.
   */
  saveSchedule(schedule: NewSchedule): Promise<{ created: boolean }>;
  /** Removes a schedule; false when there was none. */
  removeSchedule(name: string): Promise<boolean>;
  /** Every schedule, by name (binary order). */
  listSchedules(): Promise<ScheduleRecord[]>;
  /**
   * Records that `tick` (epoch ms) of a schedule was handled, atomically, only when its
   * `lastTick` is null or earlier (ticks only move forward, whoever races); `workflowId` sets
   * `lastWorkflowId` (null keeps it: a skipped tick). False when the schedule is gone or
   * already at this tick or a later one.
   */
  claimScheduleTick(name: string, tick: number, workflowId: string | null): Promise<boolean>;

  // --- nodes and leases ---------------------------------------------------------------------
  registerNode(node: NewNode): Promise<void>;
  /**
   * Extends the node's lease (covering every job it holds). `alive: false`: it was declared
   * dead and must register again. When `held` is given (after a failed round trip, whose
   * claim may have been applied without the node seeing the answer), jobs leased to this node
   * by claim calls sent before this heartbeat but not listed are handed back without counting
   * an attempt; jobs claimed by calls sent after it (which may reach the store first) are never
   * handed back, and a claim call the node gave up on must not leave jobs leased to it.
   */
  heartbeat(nodeId: string, leaseMs: number, held?: readonly string[]): Promise<{ alive: boolean }>;
  /** Removes the node and hands back any job it still holds without counting an attempt. */
  unregisterNode(nodeId: string): Promise<void>;
  /** Takes jobs back from nodes whose lease expired (one node loss each, the node-loss rule) and removes those nodes. */
  recoverExpired(limit: number): Promise<RecoverResult>;
  listNodes(): Promise<NodeRecord[]>;
  /**
   * Optional: ready and leased jobs per queue, for metrics (queues with neither are left out).
   * Redis walks its unfinished workflows for it (bounded: docs/backends/redis.md).
   */
  queueCounts?(): Promise<QueueCount[]>;

  // --- events -------------------------------------------------------------------------------
  /** Publishes events to every subscriber in every process. */
  publish(events: BackendEvent[]): Promise<void>;
  /** Receives every event from every process (including this one). Returns an unsubscribe function. */
  subscribe(listener: EventListener): () => void;
  /**
   * Optional: calls `listener` once if the backend stops for good (it gave up reconnecting);
   * every call rejects with that error afterwards. Returns an unsubscribe function.
   */
  onFatal?(listener: (error: Error) => void): () => void;
  /**
   * Optional: calls `listener` for problems the backend met on its own and got past, such as a
   * malformed event message it skipped (`during`: what it was doing). Each kind once.
   */
  onProblem?(listener: (error: Error, during: string) => void): () => void;

  // --- reads --------------------------------------------------------------------------------
  getWorkflow(workflowId: string): Promise<WorkflowRecord | null>;
  listWorkflows(query: WorkflowQuery): Promise<WorkflowRecord[]>;
  /** Exact counts of the workflows stored, by status, optionally of one name and/or business key. */
  countWorkflows(query: WorkflowCountQuery): Promise<WorkflowCounts>;
  getSteps(workflowId: string): Promise<StepRecord[]>;
  getStep(workflowId: string, stepId: string): Promise<StepRecord | null>;
  /** Tasks of a step in seq order, one page at a time. */
  getTasks(workflowId: string, stepId: string, page: TaskPage): Promise<TaskRecord[]>;

  // --- retention ----------------------------------------------------------------------------
  /** Removes a workflow and everything under it. */
  removeWorkflow(workflowId: string): Promise<boolean>;
  /** Removes up to `limit` finished workflows whose retention (or cleanOnDone grace) ran out. */
  sweep(limit: number): Promise<number>;
}

export type { DependencyCondition };
