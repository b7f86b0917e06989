/**
 * What a Step shows that does not change while it runs, made from a stored or running step's
 * fields (its stored data parsed once, a corrupt one a clear error).
 */
import type { StepStatus } from '../backends/records.js';
import { CorruptRecordError } from '../errors.js';
import type { SerializedError } from '../errors.js';
import type { StepOptions } from './options.js';

/** @internal the fields a Step is built from. */
export interface StepFields {
  workflowId: string;
  id: string;
  name: string;
  index: number;
  dataJson: string | null;
  data?: unknown;
  taskCount: number;
  options: StepOptions;
  parentId: string | null;
  status: StepStatus;
  error: SerializedError | null;
}

/** What a Step shows that does not change while it runs: shared by the Steps of one step's jobs. */
export interface StepIdentity {
  id: string;
  name: string;
  index: number;
  options: StepOptions;
  workflowId: string;
  key: string;
  parentKey: string | undefined;
  status: StepStatus;
  error: SerializedError | null;
  data: unknown;
}

export function identityOf(fields: StepFields): StepIdentity {
  return {
    id: fields.id,
    name: fields.name,
    index: fields.index,
    options: fields.options,
    workflowId: fields.workflowId,
    key: `${fields.workflowId}:${fields.id}`,
    parentKey: fields.parentId === null ? undefined : `${fields.workflowId}:${fields.parentId}`,
    status: fields.status,
    error: fields.error,
    data: 'data' in fields ? fields.data : parseStepData(fields),
  };
}

/** A step's stored data: a corrupt one (the store was written by something else) is a clear error. */
function parseStepData(fields: StepFields): unknown {
  try {
    return JSON.parse(fields.dataJson ?? 'null') as unknown;
  } catch {
    throw new CorruptRecordError(
      `the stored data of step "${fields.name}" (id ${fields.id}) of workflow ${fields.workflowId} is not JSON; ` +
        'the store was written by something other than deflow (or damaged)',
      { workflowId: fields.workflowId, stepId: fields.id, field: 'step data' },
    );
  }
}
