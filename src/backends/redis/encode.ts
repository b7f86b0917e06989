/** Contract inputs turned into script ARGV (the layouts are documented in the .lua headers). */
import type { JobOutcome, NewStep } from '../backend.js';
import { refusalError } from '../failures.js';
import { parseJobId } from './keys.js';
import type { ScriptArg } from './scripts.js';

/** A step as lua/lib/insert.lua reads it: 17 values, then its tasks, their buckets and their rate buckets (if any). */
function pushStep(args: ScriptArg[], step: NewStep, parents: string, dependents: string): void {
  args.push(
    step.id,
    step.name,
    JSON.stringify(step.handler),
    step.dataJson,
    JSON.stringify(step.options),
    step.options.taskMaxFailCount,
    step.options.taskFailRetryDelay,
    JSON.stringify(step.deps),
    step.handler.hasBeforeAll ? 1 : 0,
    step.handler.hasAfterAll ? 1 : 0,
    parents,
    step.deps[0]?.on ?? 'success',
    dependents,
    timerOf(step),
    step.tasksJson.length,
    step.taskBuckets?.length ?? 0,
    step.taskRateBuckets?.length ?? 0,
  );
  for (const task of step.tasksJson) args.push(task);
  for (const bucket of step.taskBuckets ?? []) args.push(bucket ?? '');
  for (const bucket of step.taskRateBuckets ?? []) args.push(bucket ?? '');
}

/** A step's timer as insert.lua stores it: "<delayMs>|<startAt>" (either may be empty), '' for none. */
function timerOf(step: NewStep): string {
  const delay = step.delayMs ?? 0;
  if (delay <= 0 && step.startAt === undefined) return '';
  return `${delay > 0 ? delay : ''}|${step.startAt ?? ''}`;
}

/** The declared steps of a new workflow, numbered 1..n in order, with their edges resolved. */
export function encodeDeclaredSteps(workflowId: string, steps: readonly NewStep[]): ScriptArg[] {
  const numberOf = new Map<string, number>();
  steps.forEach((step, index) => {
    if (numberOf.has(step.id)) throw refusalError({ code: 'ERR_VALIDATION', reason: 'duplicate-step-id', workflowId, stepId: step.id });
    numberOf.set(step.id, index + 1);
  });
  const dependents = steps.map((): number[] => []);
  const parents = steps.map((step, index) =>
    step.deps.map((dep) => {
      const parent = numberOf.get(dep.stepId);
      if (parent === undefined) {
        throw refusalError({ code: 'ERR_VALIDATION', reason: 'unknown-dependency', workflowId, step: step.name, stepId: step.id, dependsOn: dep.stepId });
      }
      dependents[parent - 1]?.push(index + 1);
      return parent;
    }),
  );
  const args: ScriptArg[] = [steps.length];
  steps.forEach((step, index) => pushStep(args, step, (parents[index] ?? []).join(','), (dependents[index] ?? []).join(',')));
  return args;
}

/** Steps added by addAfter: no edges (they run in their anchor's phase). */
export function encodeAnchoredSteps(steps: readonly NewStep[]): ScriptArg[] {
  const args: ScriptArg[] = [steps.length];
  for (const step of steps) pushStep(args, step, '', '');
  return args;
}

export interface OutcomeBatch {
  /** Groups per step as complete.lua reads them (after its 7 fixed values). */
  args: ScriptArg[];
  /** Job field -> job id, to map stale fields back. */
  ids: Map<string, string>;
}

/** Outcomes grouped by workflow, then by step. Ids this backend never handed out are stale at once. */
/**
 * Outcomes grouped by workflow, then by step, in the blocks apply_group (lua/lib/apply.lua)
 * reads: a fresh task that succeeded costs one or two arguments. Ids this backend never
 * handed out are stale at once.
 */
export function encodeOutcomes(outcomes: readonly JobOutcome[]): { batches: Map<string, OutcomeBatch>; unknown: string[] } {
  type Block = { kind: 'N' | 'S' | 'X'; count: number; values: ScriptArg[] };
  const byWorkflow = new Map<string, { steps: Map<string, Block[]>; ids: Map<string, string> }>();
  const unknown: string[] = [];
  for (const outcome of outcomes) {
    const parsed = parseJobId(outcome.id);
    if (parsed === null || parsed.workflowId !== outcome.workflowId) {
      unknown.push(outcome.id);
      continue;
    }
    let workflow = byWorkflow.get(parsed.workflowId);
    if (workflow === undefined) {
      workflow = { steps: new Map(), ids: new Map() };
      byWorkflow.set(parsed.workflowId, workflow);
    }
    workflow.ids.set(parsed.field, outcome.id);
    let blocks = workflow.steps.get(parsed.n);
    if (blocks === undefined) {
      blocks = [];
      workflow.steps.set(parsed.n, blocks);
    }
    const plain = outcome.token === 0 && outcome.status === 'succeeded' && outcome.error === null;
    const kind = plain ? (outcome.resultJson === null ? 'N' : 'S') : 'X';
    let block = blocks[blocks.length - 1];
    if (block?.kind !== kind) {
      block = { kind, count: 0, values: [] };
      blocks.push(block);
    }
    block.count++;
    const values = block.values;
    if (kind === 'N') values.push(parsed.slot);
    else if (kind === 'S') values.push(parsed.slot, outcome.status === 'succeeded' ? (outcome.resultJson ?? '') : '');
    else {
      switch (outcome.status) {
        case 'succeeded':
          if (outcome.error === null) values.push('S', parsed.slot, outcome.token, outcome.resultJson ?? '', '');
          else values.push('E', parsed.slot, outcome.token, outcome.resultJson ?? '', JSON.stringify(outcome.error));
          break;
        case 'retry':
          values.push('R', parsed.slot, outcome.token, JSON.stringify(outcome.error), outcome.retryDelayMs);
          break;
        case 'failed':
          values.push('F', parsed.slot, outcome.token, JSON.stringify(outcome.error), '');
          break;
      }
    }
  }
  const batches = new Map<string, OutcomeBatch>();
  for (const [workflowId, workflow] of byWorkflow) {
    const args: ScriptArg[] = [workflow.steps.size];
    for (const [n, blocks] of workflow.steps) {
      args.push(n, blocks.length);
      for (const block of blocks) {
        args.push(block.kind, block.count);
        for (const value of block.values) args.push(value);
      }
    }
    batches.set(workflowId, { args, ids: workflow.ids });
  }
  return { batches, unknown };
}
