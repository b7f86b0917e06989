/**
 * Redis beyond the conformance suite's corrupt records. Step options that are not JSON at all
 * (a jsonb column cannot hold them, a Redis hash can): the completion that makes the step
 * runnable decodes them in Lua to adopt the step; a decode failure there must not fail the
 * script (which would fail every completion of the workflow, again and again). And the numbers
 * the scripts keep in hashes (a step's task counts, the workflow's open step count): junk there
 * fails the step or workflow with a CorruptRecordError naming the field, never the script.
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

  it('fails a waiting step whose stored task total is not a number when it starts, and reports it once', async () => {
    const { failure, problems, workflowId } = await corruptWhileRunning(context, (id) => ({
      workflowId: id,
      stepId: '2',
      field: 'number',
      name: 'total',
      value: 'abc',
    }));
    expect(failure.result.steps.map((step) => step.status)).toEqual(['succeeded', 'failed']);
    const cause = causeChain(failure.result.error).at(-1);
    expect(cause).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'total', stepId: '2', workflowId });
    expect(String(cause?.message)).toContain('the total field of its stored record holds "abc", not what deflow writes there');
    const reported = problems.filter((p) => p.code === 'ERR_CORRUPT_RECORD' && p.message.includes(`workflow ${workflowId}`));
    expect(reported).toHaveLength(1);
    expect(reported[0]?.message).toContain('the total field');
  });

  it('fails a running step whose stored done count is not a number when its task completes', async () => {
    const { failure, workflowId } = await corruptWhileRunning(context, (id) => ({ workflowId: id, stepId: '1', field: 'number', name: 'done', value: '1x' }));
    expect(failure.result.steps.map((step) => step.status)).toEqual(['failed', 'skipped']);
    expect(causeChain(failure.result.error).at(-1)).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'done', stepId: '1', workflowId });
  });

  it('fails a step when a job state that deflow did not write is found where its task completes', async () => {
    const { failure, workflowId } = await corruptWhileRunning(context, (id) => ({ workflowId: id, stepId: '2', seq: 2, field: 'job state', value: 'zzz' }));
    expect(failure.result.steps.map((step) => step.status)).toEqual(['succeeded', 'failed']);
    expect(causeChain(failure.result.error).at(-1)).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'job state', stepId: '2', workflowId });
  });

  it("fails the workflow whose own open step count is not a number", async () => {
    const { failure, problems, workflowId } = await corruptWhileRunning(context, (id) => ({
      workflowId: id,
      stepId: null,
      field: 'number',
      name: 'open',
      value: 'many',
    }));
    expect(failure.result.error).toMatchObject({ code: 'ERR_CORRUPT_RECORD', field: 'open', workflowId });
    expect(failure.result.error?.message).toContain(`workflow ${workflowId}: the open field of its stored record holds "many"`);
    expect(problems.filter((p) => p.code === 'ERR_CORRUPT_RECORD' && p.message.includes('open field'))).toHaveLength(1);
  });
});
