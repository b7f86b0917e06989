/**
 * Runs one attempt of one job and turns what happened into an outcome for the backend.
 * Side hooks (afterEach, onHandlerError) that throw are recorded on the task and never
 * change its fate; a task that exceeds its timeout fails with a TimeoutError and its
 * `task.signal` aborts.
 */
import type { JobOutcome, NextTaskEvent } from '../backends/backend.js';
import { TimeoutError, serializeError } from '../errors.js';
import type { SerializedError } from '../errors.js';
import { toJson } from './json.js';
import type { RegisteredHandler } from './registry.js';
import { ABORT_TASK } from './types.js';
import type { JobContext, StepView, TaskView, ViewFactory } from './types.js';

export interface ExecutionHooks {
  /** Publishes a nextTask event (only called when someone watches them). */
  onTaskStart(event: NextTaskEvent): void;
  /** Tracks running task views so shutdown can abort them. */
  track(task: TaskView): () => void;
}

export async function executeJob(
  context: JobContext,
  handler: RegisteredHandler,
  views: ViewFactory,
  watchNextTask: boolean,
  hooks: ExecutionHooks,
): Promise<JobOutcome> {
  const { job, step } = context;
  const lease = { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token };
  const stepView = views.step(context);
  if (job.kind !== 'task') {
    const hookName = job.kind === 'before' ? 'beforeAll' : 'afterAll';
    try {
      if (job.kind === 'before') await handler.beforeAll?.(stepView);
      else await handler.afterAll?.(stepView);
      return { ...lease, status: 'succeeded', resultJson: null, error: null };
    } catch (thrown) {
      return failure(lease, context, serializeError(thrown, hookName));
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
  const untrack = hooks.track(task);
  try {
    let result: unknown;
    let resultJson: string | null;
    try {
      result = handler.handler === undefined ? undefined : handler.handler(task, stepView);
      if (isPromiseLike(result)) {
        result = await withTimeout(result, step.options.taskTimeout, task, context);
      }
      resultJson = toJson(result, `the result of task ${job.seq} of step "${step.name}"`, true);
    } catch (thrown) {
      return await handleFailure(handler, task, stepView, thrown, lease, context);
    }
    task.result = result;
    const sideError = await runSideHook('afterEach', () => handler.afterEach?.(task, stepView));
    return { ...lease, status: 'succeeded', resultJson, error: sideError };
  } finally {
    untrack();
  }
}

async function handleFailure(
  handler: RegisteredHandler,
  task: TaskView,
  stepView: StepView,
  thrown: unknown,
  lease: Omit<JobOutcome, 'status' | 'error' | 'resultJson' | 'retryDelayMs'>,
  context: JobContext,
): Promise<JobOutcome> {
  const error = serializeError(thrown);
  task.error = error;
  task.failedCount = context.job.failedCount + 1;
  const final = task.failedCount >= context.step.options.taskMaxFailCount;
  const thrownError = thrown instanceof Error ? thrown : new Error(String(thrown));
  const onErrorFailure = await runSideHook('onHandlerError', () => handler.onHandlerError?.(task, stepView, thrownError));
  if (onErrorFailure !== null) error.hookError = onErrorFailure;
  if (final) {
    const afterEachFailure = await runSideHook('afterEach', () => handler.afterEach?.(task, stepView));
    if (afterEachFailure !== null) error.hookError ??= afterEachFailure;
  }
  return failure(lease, context, error);
}

function failure(
  lease: Omit<JobOutcome, 'status' | 'error' | 'resultJson' | 'retryDelayMs'>,
  context: JobContext,
  error: SerializedError,
): JobOutcome {
  const attempts = context.job.failedCount + 1;
  if (attempts >= context.step.options.taskMaxFailCount) return { ...lease, status: 'failed', error };
  return { ...lease, status: 'retry', error, retryDelayMs: context.step.options.taskFailRetryDelay };
}

/** Runs afterEach / onHandlerError; what they throw is returned, never propagated. */
async function runSideHook(name: string, call: () => unknown): Promise<SerializedError | null> {
  try {
    await call();
    return null;
  } catch (thrown) {
    return serializeError(thrown, name);
  }
}

function withTimeout(promise: PromiseLike<unknown>, timeoutMs: number, task: TaskView, context: JobContext): Promise<unknown> {
  if (timeoutMs <= 0) return Promise.resolve(promise);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new TimeoutError(
        `task ${context.job.seq} of step "${context.step.name}" timed out after ${timeoutMs} ms`,
        timeoutMs,
      );
      task[ABORT_TASK](error);
      reject(error);
    }, timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (reason: unknown) => {
        clearTimeout(timer);
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
