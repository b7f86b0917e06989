/**
 * Redis beyond the conformance suite's corrupt records: step options that are not JSON at all
 * (a jsonb column cannot hold them, a Redis hash can). The completion that makes the step
 * runnable decodes them in Lua to adopt the step; a decode failure there must not fail the
 * script (which would fail every completion of the workflow, again and again).
 */
import { describe, expect, it } from 'vitest';
import { useConformance } from '../conformance/context.js';
import { causeChain, corruptWhileRunning } from '../conformance/corrupt-records.js';
import { redisUnderTest } from '../helpers/redis.js';

describe('Redis corrupt records', () => {
  const context = useConformance(redisUnderTest());

  it('fails a step whose stored options are not JSON, adopted or discovered', async () => {
    const { failure } = await corruptWhileRunning(context, (id) => ({ workflowId: id, stepId: '2', field: 'options', value: '{"taskConcurrency": oops' }));
    expect(causeChain(failure.result.error).at(-1)).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'options' });
  });
});
