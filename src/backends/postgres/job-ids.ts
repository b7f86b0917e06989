/**
 * Job ids of the PostgreSQL backend: "<step_pk>.<seq>", seq 0 = beforeAll, 1.. = tasks,
 * 2147483647 = afterAll (keep in sync with functions/*.sql). Ids are opaque to the engine.
 */
import type { JobKind } from '../records.js';

export const AFTER_SEQ = 2_147_483_647;

export function jobId(stepPk: string, seq: number): string {
  return `${stepPk}.${seq}`;
}

export interface JobKey {
  stepPk: string;
  seq: number;
}

export function parseJobId(id: string): JobKey {
  const dot = id.indexOf('.');
  const seq = Number(id.slice(dot + 1));
  if (dot <= 0 || !Number.isInteger(seq)) throw new Error(`not a PostgreSQL job id: ${JSON.stringify(id)}`);
  return { stepPk: id.slice(0, dot), seq };
}

export function kindOfSeq(seq: number): JobKind {
  return seq === 0 ? 'before' : seq === AFTER_SEQ ? 'after' : 'task';
}

/** Splits job ids into the parallel arrays the SQL functions take. */
export function splitJobIds(ids: readonly string[]): { steps: string[]; seqs: number[] } {
  const steps = new Array<string>(ids.length);
  const seqs = new Array<number>(ids.length);
  ids.forEach((id, i) => {
    const key = parseJobId(id);
    steps[i] = key.stepPk;
    seqs[i] = key.seq;
  });
  return { steps, seqs };
}
