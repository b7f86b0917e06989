/**
 * Runs one attempt of one job and turns what happened into an outcome for the backend.
 * Side hooks (afterEach, onHandlerError) that throw are recorded on the task and never
 * change its fate; a task that exceeds its timeout fails with a TimeoutError and its
 * `task.signal` aborts.
 */
import { retryDelayMs } from './retry-backoff.js';
import { missingKeyOf } from './concurrency-key.js';
import type { JobLease, JobOutcome, NextTaskEvent } from '../backends/backend.js';
import type { Clock } from '../clock.js';
import { faultPoint } from '../fault-points.js';
import { leaseOf } from './lease.js';
import { TimeoutError, WORKFLOW_CANCELLED, isError, serializeError } from '../errors.js';
import type { SerializedError } from '../errors.js';
import { fromJson, toJson } from './json.js';
import type { RegisteredHandler } from './handler-registry.js';
import { ABORT_TASK } from './handler-contract.js';
import type { JobContext, StepView, TaskView, ViewFactory } from './handler-contract.js';

export interface ExecutionHooks {
  /** Publishes a nextTask event (only called when someone watches them). */
  onTaskStart(event: NextTaskEvent): void;
  /** A task of this workflow starts / ends running (shutdown and a cancel abort the running ones). */
  begin(task: TaskView, workflowId: string): void;
  end(task: TaskView): void;
  /** Runs the handler of an isolated step in a worker; resolves with the result as JSON text. */
  isolate(kind: 'thread' | 'process', context: JobContext, handler: RegisteredHandler, task: TaskView): Promise<string | null>;
}

export async function executeJob(
  context: JobContext,
  handler: RegisteredHandler,
  views: ViewFactory,
  watchNextTask: boolean,
  hooks: ExecutionHooks,
  clock: Clock,
): Promise<JobOutcome> {
  const { job, step } = context;
  const hookName = job.kind === 'before' ? 'beforeAll' : job.kind === 'after' ? 'afterAll' : undefined;
  // No code to run, and trying again would refuse again: failed for good.
  if (handler.refusal !== undefined) {
    context.ended = true;
    return { ...leaseOf(job), status: 'failed', error: serializeError(handler.refusal, hookName) };
  }
  // Stored without a bucket (no key in its data): no attempt can succeed, so failed for good, not run.
  if ((step.options.concurrencyKey !== undefined || step.options.rateLimitKey !== undefined) && job.kind === 'task') {
    const missing = missingKeyOf(step.handler.key, step.options, step.name, job.seq, JSON.parse(job.dataJson) as unknown);
    if (missing !== null) {
      context.ended = true;
      return { ...leaseOf(job), status: 'failed', error: serializeError(missing) };
    }
  }
  const stepView = views.step(context);
  if (hookName !== undefined) {
    try {
      if (job.kind === 'before') await handler.beforeAll?.(stepView);
      else await handler.afterAll?.(stepView);
      await settleCalls(context);
      if (context.pending !== undefined) faultPoint('hook:after-add-after'); // its addTasks / addAfter calls are stored
      return { ...leaseOf(job), status: 'succeeded', resultJson: null, error: null };
    } catch (thrown) {
      return failure(leaseOf(job), context, serializeError(thrown, hookName));
    } finally {
      context.ended = true;
    }
  }

  const task = views.task(context);
  if (watchNextTask) {
    hooks.onTaskStart({
      type: 'nextTask',
      workflowId: job.workflowId,
      stepId: job.stepId,
      taskId: `${job.stepId}:${job.seq}`,
      dataJson: job.dataJson,
      attempt: job.failedCount + 1,
    });
  }
  hooks.begin(task, job.workflowId);
  try {
    let result: unknown;
    let resultJson: string | null;
    try {
      const isolation = step.options.isolation;
      if (isolation === 'thread' || isolation === 'process') {
        resultJson = await hooks.isolate(isolation, context, handler, task);
        result = fromJson(resultJson);
      } else {
        const timeout = step.options.taskTimeout;
        const startedAt = timeout > 0 ? clock.monotonic() : 0;
        result = handler.handler === undefined ? undefined : handler.handler(task, stepView);
        if (isPromiseLike(result)) {
          result = timeout > 0 ? await withTimeout(result, Math.max(0, timeout - (clock.monotonic() - startedAt)), task, context, clock) : await result;
        }
        // A handler that blocked the event loop past its timeout kept the timer from firing; it
        // could not be stopped, but its attempt still timed out.
        if (timeout > 0 && clock.monotonic() - startedAt > timeout) throw timedOut(timeout, task, context);
        resultJson = toJson(result, `the result of task ${job.seq} of step "${step.name}"`, true);
      }
      if (context.pending !== undefined) await settleCalls(context);
      if (context.pending !== undefined) faultPoint('hook:after-add-after'); // its addTasks / addAfter calls are stored
    } catch (thrown) {
      if (context.pending !== undefined) await settleCalls(context).catch(() => undefined);
      return await handleFailure(handler, task, stepView, thrown, leaseOf(job), context);
    }
    task.result = result;
    task.status = 'succeeded';
    const sideError =
      handler.afterEach === undefined || cancelled(task) ? null : await runSideHook('afterEach', context, () => handler.afterEach?.(task, stepView));
    // A literal, not a spread of leaseOf(job): this is the per-task hot path, and spread-built
    // objects halved end-to-end throughput (measured with bench/sqlite-throughput.ts).
    return {
      id: job.id,
      workflowId: job.workflowId,
      stepId: job.stepId,
      kind: job.kind,
      seq: job.seq,
      token: job.token,
      status: 'succeeded',
      resultJson,
      error: sideError,
    };
  } finally {
    context.ended = true;
    hooks.end(task);
  }
}

async function handleFailure(
  handler: RegisteredHandler,
  task: TaskView,
  stepView: StepView,
  thrown: unknown,
  lease: JobLease,
  context: JobContext,
): Promise<JobOutcome> {
  const error = serializeError(thrown);
  // Its workflow was cancelled: the outcome will be refused, and no side hook runs for it.
  if (cancelled(task)) return failure(lease, context, error);
  task.error = error;
  task.failedCount = context.job.failedCount + 1;
  const final = task.failedCount >= context.step.options.taskMaxFailCount || error.code === 'ERR_CORRUPT_RECORD';
  // What the hooks see: failed for good, or still this node's until the retry is recorded.
  if (final) task.status = 'failed';
  const thrownError = isError(thrown) ? thrown : new Error(String(thrown));
  const onErrorFailure =
    handler.onHandlerError === undefined
      ? null
      : await runSideHook('onHandlerError', context, () => handler.onHandlerError?.(task, stepView, thrownError));
  if (onErrorFailure !== null) error.hookError = onErrorFailure;
  if (final && handler.afterEach !== undefined) {
    const afterEachFailure = await runSideHook('afterEach', context, () => handler.afterEach?.(task, stepView));
    if (afterEachFailure !== null) error.hookError ??= afterEachFailure;
  }
  return failure(lease, context, error);
}

function failure(
  lease: JobLease,
  context: JobContext,
  error: SerializedError,
): JobOutcome {
  const attempts = context.job.failedCount + 1;
  // A corrupt stored record stays corrupt: another attempt would fail the same way.
  if (attempts >= context.step.options.taskMaxFailCount || error.code === 'ERR_CORRUPT_RECORD') return { ...lease, status: 'failed', error };
  return { ...lease, status: 'retry', error, retryDelayMs: retryDelayMs(context.step.options, attempts) };
}

/** The attempt was aborted because its workflow was cancelled (the node's abort reason says so). */
function cancelled(task: TaskView): boolean {
  return task.signal.aborted && (task.signal.reason as { code?: unknown } | undefined)?.code === WORKFLOW_CANCELLED;
}

/**
 * Waits for the addTasks / addAfter calls the attempt started: it is not over before they
 * are, and one that failed without anybody awaiting it fails the attempt.
 */
async function settleCalls(context: JobContext): Promise<void> {
  const pending = context.pending;
  if (pending === undefined) return;
  while (pending.length > 0) {
    const calls = pending.splice(0);
    const settled = await Promise.allSettled(calls.map((call) => call.settled));
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === 'rejected' && calls[i]?.observed === false) throw outcome.reason;
    }
  }
}

/** Runs afterEach / onHandlerError; what they throw is returned, never propagated. */
async function runSideHook(name: string, context: JobContext, call: () => unknown): Promise<SerializedError | null> {
  try {
    await call();
    if (context.pending !== undefined) await settleCalls(context);
    return null;
  } catch (thrown) {
    return serializeError(thrown, name);
  }
}

/** The TimeoutError of an attempt that ran past `timeoutMs`; fires `task.signal` with it. */
function timedOut(timeoutMs: number, task: TaskView, context: JobContext): TimeoutError {
  const error = new TimeoutError(`task ${context.job.seq} of step "${context.step.name}" timed out after ${timeoutMs} ms`, timeoutMs);
  task[ABORT_TASK](error);
  return error;
}

/** `remainingMs`: what is left of the task's timeout once the handler returned its promise. */
function withTimeout(promise: PromiseLike<unknown>, remainingMs: number, task: TaskView, context: JobContext, clock: Clock): Promise<unknown> {
  const timeoutMs = context.step.options.taskTimeout;
  return new Promise((resolve, reject) => {
    const timer = clock.after(remainingMs, () => reject(timedOut(timeoutMs, task, context)));
    promise.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (reason: unknown) => {
        timer.cancel();
        // Passed through untouched: whatever the handler threw is what gets recorded.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(reason);
      },
    );
  });
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
