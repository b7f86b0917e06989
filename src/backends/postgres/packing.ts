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
    steps.map((step) => step.delayMs ?? 0),
    steps.map((step) => step.startAt ?? null),
    // Buckets line up with the tasks; none at all (the common case) when no step has concurrencyKey.
    steps.some((step) => step.taskBuckets !== undefined) ? steps.flatMap((step) => step.taskBuckets ?? step.tasksJson.map(() => null)) : [],
    steps.some((step) => step.taskRateBuckets !== undefined) ? steps.flatMap((step) => step.taskRateBuckets ?? step.tasksJson.map(() => null)) : [],
  ];
}

const KIND_OF_STATUS = { succeeded: 's', retry: 'r', failed: 'f' } as const;

interface Group {
  lease: number;
  stepPk: string;
  entries: { seq: number; result: string | null; error: string | null }[];
}

/**
 * Outcomes, as the parameters of complete_jobs: the distinct workflows (the lock set); the
 * outcomes written one row each (jobs leased alone, range jobs that did not succeed); then the
 * successes of range jobs grouped per lease (token -lease id): lease ids, step pks, group
 * sizes, bit masks (one '1' per seq from the group's lowest seq on), and the flat seqs
 * (ascending within a group), results and side errors (null when none at all).
 */
export function packOutcomes(outcomes: readonly JobOutcome[]): unknown[] {
  const workflows = new Set<string>();
  const rows = { steps: [] as string[], seqs: [] as number[], tokens: [] as number[], kinds: [] as string[] };
  const rowResults: (string | null)[] = [];
  const rowErrors: (string | null)[] = [];
  const rowRetryMs: number[] = [];
  const groups = new Map<number, Group>();
  for (const outcome of outcomes) {
    const key = parseJobId(outcome.id);
    workflows.add(outcome.workflowId);
    const error = outcome.error === null ? null : JSON.stringify(outcome.error);
    if (outcome.token < 0 && outcome.status === 'succeeded') {
      let group = groups.get(outcome.token);
      if (group === undefined) {
        group = { lease: -outcome.token, stepPk: key.stepPk, entries: [] };
        groups.set(outcome.token, group);
      }
      group.entries.push({ seq: key.seq, result: outcome.resultJson, error });
      continue;
    }
    rows.steps.push(key.stepPk);
    rows.seqs.push(key.seq);
    rows.tokens.push(outcome.token);
    rows.kinds.push(KIND_OF_STATUS[outcome.status]);
    rowResults.push(outcome.status === 'succeeded' ? outcome.resultJson : null);
    rowErrors.push(error);
    rowRetryMs.push(outcome.status === 'retry' ? outcome.retryDelayMs : 0);
  }
  const leases: number[] = [];
  const steps: string[] = [];
  const sizes: number[] = [];
  const masks: string[] = [];
  const seqs: number[] = [];
  const results: (string | null)[] = [];
  const errors: (string | null)[] = [];
  let anyError = false;
  for (const group of groups.values()) {
    group.entries.sort((a, b) => a.seq - b.seq);
    const first = group.entries[0]?.seq ?? 0;
    const last = group.entries.at(-1)?.seq ?? 0;
    const mask = new Uint8Array(last - first + 1).fill(48); // '0'
    for (const entry of group.entries) {
      mask[entry.seq - first] = 49; // '1'
      seqs.push(entry.seq);
      results.push(entry.result);
      errors.push(entry.error);
      anyError ||= entry.error !== null;
    }
    leases.push(group.lease);
    steps.push(group.stepPk);
    sizes.push(group.entries.length);
    masks.push(Buffer.from(mask).toString('latin1'));
  }
  return [
    [...workflows],
    rows.steps,
    rows.seqs,
    rows.tokens,
    rows.kinds,
    rowResults,
    rowErrors,
    rowRetryMs,
    leases,
    steps,
    sizes,
    masks,
    seqs,
    results,
    anyError ? errors : null,
  ];
}

/** Leases to hand back: step pks, seqs, tokens. */
export function packLeases(jobs: readonly JobLease[]): unknown[] {
  const keys = jobs.map((job) => parseJobId(job.id));
  return [keys.map((key) => key.stepPk), keys.map((key) => key.seq), jobs.map((job) => job.token)];
}
