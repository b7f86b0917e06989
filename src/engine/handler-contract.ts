/**
 * The contract between the engine and the user code it runs: the handler lifecycle shape the
 * engine calls, the views (public Step and Task objects) the api builds for it, and the job
 * context those views are built around. The engine does not know the public classes: the api
 * hands it a ViewFactory. A leaf: it imports nothing of the engine.
 */
import type { Backend, ClaimedJob, JobStatus, RunnableStep } from '../backends/backend.js';
import type { SerializedError } from '../errors.js';

/** The lifecycle methods of a step handler, as the engine calls them. */
export interface HandlerCode {
  /** Registry key (explicit name, or module URL plus ordinal). */
  readonly key: string;
  beforeAll?(step: StepView): unknown;
  handler?(task: TaskView, step: StepView): unknown;
  afterEach?(task: TaskView, step: StepView): unknown;
  afterAll?(step: StepView): unknown;
  onHandlerError?(task: TaskView, step: StepView, error: Error): unknown;
}

/** Key of the method that fires `task.signal`; a symbol so it stays off the public surface. */
export const ABORT_TASK: unique symbol = Symbol('deflow.abortTask');

/** The engine's grip on a task object while it runs. */
export interface TaskView {
  result: unknown;
  status: JobStatus;
  error: SerializedError | undefined;
  failedCount: number;
  readonly signal: AbortSignal;
  /** Fires `task.signal` with this reason. */
  [ABORT_TASK](reason: Error): void;
}

/** A step object handed to user code; opaque to the engine. */
export type StepView = object;

/** What a job's views reach through the node that runs it. */
export interface JobNode {
  /** The store the job lives in (a Step's addTasks, addAfter and reads go there). */
  readonly backend: Backend;
  /** Where the node may import step modules from (module-policy.ts; empty: the working directory); addAfter checks a module path against it. */
  readonly stepDirs?: readonly string[];
}

/** One attempt of one claimed job, with what Step and Task views need to act on it. */
export interface JobContext {
  readonly node: JobNode;
  readonly step: RunnableStep;
  readonly job: ClaimedJob;
  /** Task total of the step when the job was claimed. */
  taskCount: number;
  /** addTasks / addAfter calls made so far by this attempt; gives them deterministic ids. */
  calls: number;
  /** Those calls: the attempt ends only once they settled, and fails with one nobody awaited that failed. */
  pending?: TrackedCall[];
  /** The attempt ended: later addTasks / addAfter calls through it are refused. */
  ended?: boolean;
}

/** An addTasks / addAfter call made during an attempt. */
export interface TrackedCall {
  /** The call itself (already handled: it never rejects unhandled). */
  readonly settled: Promise<unknown>;
  /** Did the caller await it or attach a handler? Then its failure is the caller's to handle. */
  readonly observed: boolean;
}

export interface ViewFactory {
  task(context: JobContext): TaskView;
  step(context: JobContext): StepView;
  /** URL of the module isolation pools load in their workers (it exports `runHandler`). */
  readonly isolationEntry: string;
}

/** One task to run in an isolation worker: everything the handler sees, as plain data. */
export interface IsolatedCall {
  moduleUrl: string;
  handlerKey: string;
  job: ClaimedJob;
  step: RunnableStep;
  taskCount: number;
}
