/**
 * Turns contract batches into the parallel arrays the SQL functions take: one array per
 * field, one element per step / outcome / job, so a batch is one parameterised round trip.
 */
import type { JobLease, JobOutcome, NewStep } from '../backend.js';
import { parseJobId } from './job-ids.js';

/** Steps and their tasks: parameters $n.. of createWorkflow / addAnchoredSteps. */
export function packSteps(steps: readonly NewStep[]): unknown[] {
  return [
    steps.map((step) => step.id),
    steps.map((step) => step.name),
    steps.map((step) => JSON.stringify(step.handler)),
    steps.map((step) => step.dataJson),
    steps.map((step) => JSON.stringify(step.options)),
    steps.map((step) => JSON.stringify(step.deps)),
    steps.map((step) => step.tasksJson.length),
    steps.flatMap((step) => step.tasksJson),
  ];
}

const KIND_OF_STATUS = { succeeded: 's', retry: 'r', failed: 'f' } as const;

/** Outcomes: the distinct workflows (lock set), then step pks, seqs, tokens, kinds, results, errors, retry delays. */
export function packOutcomes(outcomes: readonly JobOutcome[]): unknown[] {
  const n = outcomes.length;
  const workflows = new Set<string>();
  const steps = new Array<string>(n);
  const seqs = new Array<number>(n);
  const tokens = new Array<number>(n);
  const kinds = new Array<string>(n);
  const results = new Array<string | null>(n);
  const errors = new Array<string | null>(n);
  const retryMs = new Array<number>(n);
  outcomes.forEach((outcome, i) => {
    const key = parseJobId(outcome.id);
    workflows.add(outcome.workflowId);
    steps[i] = key.stepPk;
    seqs[i] = key.seq;
    tokens[i] = outcome.token;
    kinds[i] = KIND_OF_STATUS[outcome.status];
    results[i] = outcome.status === 'succeeded' ? outcome.resultJson : null;
    errors[i] = outcome.error === null ? null : JSON.stringify(outcome.error);
    retryMs[i] = outcome.status === 'retry' ? outcome.retryDelayMs : 0;
  });
  return [[...workflows], steps, seqs, tokens, kinds, results, errors, retryMs];
}

/** Leases to hand back: step pks, seqs, tokens. */
export function packLeases(jobs: readonly JobLease[]): unknown[] {
  const keys = jobs.map((job) => parseJobId(job.id));
  return [keys.map((key) => key.stepPk), keys.map((key) => key.seq), jobs.map((job) => job.token)];
}
