/**
 * A workflow's identity beyond its name: the id a caller may choose (which makes a start
 * idempotent) and the business key it may carry. The rules for both, and what a start that
 * finds its id taken does, live here.
 */
import type { WorkflowRecord } from '../backends/records.js';
import { ValidationError, WorkflowConflictError } from '../errors.js';
import { checkNoNul, describe } from '../option-checks.js';

/**
 * Longest id or key, in UTF-16 code units: ids and keys are indexed (PostgreSQL refuses an index
 * entry past ~2.7 kB, and at most 3 bytes of UTF-8 per code unit stay far below it) and travel in
 * every Redis key and job id of the workflow.
 */
export const MAX_IDENTITY_LENGTH = 256;

/** A caller-chosen workflow id: a non-blank string without NUL, at most 256 characters. */
export function checkWorkflowId(value: unknown, where: string): string {
  return checkIdentity(value, where, 'an id');
}

/** A business key (an order id, a customer id...): the same rules as an id. */
export function checkWorkflowKey(value: unknown, where: string): string {
  return checkIdentity(value, where, 'a key');
}

function checkIdentity(value: unknown, where: string, what: string): string {
  if (typeof value !== 'string' || value.trim().length === 0) {
    throw new ValidationError(`${where} must be a non-empty string (${what} made of more than spaces), got ${describe(value)}`);
  }
  if (value.length > MAX_IDENTITY_LENGTH) {
    throw new ValidationError(`${where} must be at most ${MAX_IDENTITY_LENGTH} characters long, got ${value.length} characters`);
  }
  return checkNoNul(value, where);
}

/**
 * A start whose id was taken finds the workflow already there: it is the same workflow (this
 * start was a repeat: a retried request, a second process) when its name and key match, and the
 * start attaches to it. A different name or key means the id was reused for another workflow:
 * that is refused rather than silently following a workflow the caller did not mean.
 */
export function checkSameWorkflow(existing: WorkflowRecord, wanted: { id: string; name: string; key: string | null }): void {
  if (existing.name === wanted.name && existing.key === wanted.key) return;
  const shown = (key: string | null): string => (key === null ? 'no key' : `key ${JSON.stringify(key)}`);
  const differs =
    existing.name !== wanted.name
      ? `workflow ${JSON.stringify(existing.name)}, not ${JSON.stringify(wanted.name)}`
      : `workflow ${JSON.stringify(existing.name)} with ${shown(existing.key)}, not ${shown(wanted.key)}`;
  throw new WorkflowConflictError(
    `workflow id ${JSON.stringify(wanted.id)} is taken by ${differs}; a start with the id of an existing workflow ` +
      'attaches to it only when its name and key are the same: choose another id (e.g. prefix it with the workflow name)',
    { id: wanted.id, name: existing.name, key: existing.key },
  );
}
