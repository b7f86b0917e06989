/**
 * PostgreSQL beyond the conformance suite's corrupt records: jsonb holds only JSON, but any
 * shape. Step options whose fields have the wrong type are read by plpgsql too (adopting the
 * step when a completion makes it runnable); a failed cast there must not fail the completion.
 */
import { describe, expect, it } from 'vitest';
import { useConformance } from '../conformance/context.js';
import { causeChain, corruptWhileRunning } from '../conformance/corrupt-records.js';
import { postgresUnderTest } from '../helpers/postgres.js';

describe('PostgreSQL corrupt records', () => {
  const context = useConformance(postgresUnderTest());

  it('fails a step whose stored options have fields of the wrong type', async () => {
    const options = JSON.stringify({ taskConcurrency: 'x', taskTimeout: 0, taskMaxFailCount: 1.5, taskFailRetryDelay: 0 });
    const { failure } = await corruptWhileRunning(context, (id) => ({ workflowId: id, stepId: '2', field: 'options', value: options }));
    expect(causeChain(failure.result.error).at(-1)).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'options' });
  });
});
