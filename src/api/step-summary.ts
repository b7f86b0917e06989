/** What a step's result says about its tasks without holding them: counts and the first errors. */
import type { StepCounts } from '../backends/records.js';
import type { SerializedError } from '../errors.js';
import type { Task } from './task.js';

/** Steps with more tasks than this keep them out of results (read them by page instead). */
export const LARGE_STEP = 10_000;
/** Errors of failed tasks a summary carries, at most. */
export const SUMMARY_ERRORS = 20;

export interface StepSummary {
  total: number;
  succeeded: number;
  /** Failed for good. */
  failed: number;
  /** Not finished yet: waiting to run, running, or waiting for a retry. */
  unfinished: number;
  /** The errors of the first failed tasks in task order, at most 20. */
  errors: { seq: number; error: SerializedError }[];
  /** More tasks failed than `errors` lists. */
  errorsTruncated: boolean;
}

/**
 * Counts come from the step's record. The errors are looked for only when some task failed, in
 * the loaded tasks or page by page (stopping at the limit): memory stays one page whatever the size.
 */
export async function summarize(counts: StepCounts, tasks: Iterable<Task> | AsyncIterable<Task>): Promise<StepSummary> {
  const errors: StepSummary['errors'] = [];
  if (counts.failed > 0) {
    for await (const task of tasks) {
      if (task.status !== 'failed' || task.error === undefined) continue;
      errors.push({ seq: task.seq, error: task.error });
      if (errors.length >= SUMMARY_ERRORS) break;
    }
  }
  return {
    total: counts.total,
    succeeded: counts.done,
    failed: counts.failed,
    unfinished: Math.max(0, counts.total - counts.done - counts.failed),
    errors,
    errorsTruncated: counts.failed > errors.length,
  };
}
