// The one place failure and refusal messages are written: every record kind, the cause chain,
// and records that already carry their message (handlers' errors, older PostgreSQL schemas).
import { describe, expect, it } from 'vitest';
import { LeaseLostError, NotFoundError, StepClosedError, ValidationError } from '../src/errors.js';
import { NODE_LOST, formatFailure, nodeLost, readFailure, refusalError } from '../src/backends/failures.js';
import type { StoredError } from '../src/backends/failures.js';
import { DEFAULT_MAX_NODE_LOSSES, lostForGood, maxNodeLossesOf } from '../src/backends/policy.js';

const taskError = { name: 'TypeError', message: 'x is undefined', stack: 'TypeError: x is undefined' };

describe('formatFailure', () => {
  it('formats a workflow failure down its cause chain: step, added step, tasks, task', () => {
    const stored: StoredError = {
      code: 'ERR_STEP_FAILED',
      step: 'parent',
      stepId: '1',
      status: 'failed',
      stage: 'tasks-children',
      cause: {
        code: 'ERR_STEP_FAILED',
        step: 'helper',
        stepId: '1.t1.1',
        status: 'failed',
        stage: 'tasks',
        anchorStep: 'parent',
        anchorStepId: '1',
        cause: { code: 'ERR_TASK_FAILED', step: 'helper', stepId: '1.t1.1', status: 'failed', stage: 'tasks', task: 3, failed: 2, total: 5, cause: taskError },
      },
    };
    const error = formatFailure(stored);
    expect(error).toEqual({
      name: 'StepFailedError',
      code: 'ERR_STEP_FAILED',
      message: 'step "parent" failed: step "helper" added by "parent" with addAfter failed: 2 of 5 tasks failed; first failure (task 3): x is undefined',
      step: 'parent',
      stepId: '1',
      status: 'failed',
      stage: 'tasks-children',
      cause: {
        name: 'StepFailedError',
        code: 'ERR_STEP_FAILED',
        message: 'step "helper" added by "parent" with addAfter failed: 2 of 5 tasks failed; first failure (task 3): x is undefined',
        step: 'helper',
        stepId: '1.t1.1',
        status: 'failed',
        stage: 'tasks',
        anchorStep: 'parent',
        anchorStepId: '1',
        cause: {
          name: 'TypeError',
          code: 'ERR_TASK_FAILED',
          message: '2 of 5 tasks failed; first failure (task 3): x is undefined',
          step: 'helper',
          stepId: '1.t1.1',
          status: 'failed',
          stage: 'tasks',
          failed: 2,
          total: 5,
          task: 3,
          cause: taskError,
        },
      },
    });
  });

  it('says what it can when a cause or the first task is unknown', () => {
    expect(formatFailure({ code: 'ERR_STEP_FAILED', step: 'a', stepId: '1', status: 'failed' }).message).toBe('step "a" failed: unknown error');
    expect(
      formatFailure({ code: 'ERR_STEP_FAILED', step: 'c', stepId: '2', status: 'skipped', anchorStep: 'a', anchorStepId: '1' }).message,
    ).toBe('step "c" added by "a" with addAfter skipped: a step it depends on failed');
    const tasks = formatFailure({ code: 'ERR_TASK_FAILED', step: 'a', stepId: '1', status: 'failed', stage: 'tasks', task: null, failed: 1, total: 1 });
    expect(tasks).toMatchObject({ name: 'Error', message: '1 of 1 tasks failed; first failure (task ?): unknown error' });
    expect(tasks).not.toHaveProperty('task');
  });

  it('formats a node loss, also as the first failure of a step', () => {
    const record = nodeLost('crash', { kind: 'task', seq: 4 }, 3, 3);
    expect(record).toEqual({ code: 'ERR_NODE_LOST', step: 'crash', task: 4, lostCount: 3, maxNodeLosses: 3 });
    const lost = {
      name: 'NodeLostError',
      code: 'ERR_NODE_LOST',
      message:
        'task 4 of step "crash" was lost with its node 3 times (maxNodeLosses: 3): it may crash its process (a native crash, ' +
        'running out of memory, process.exit). Fix it, or raise the step option maxNodeLosses if its nodes were stopped ' +
        'for other reasons (deploys, scaling down)',
      step: 'crash',
      task: 4,
      lostCount: 3,
      maxNodeLosses: 3,
    };
    expect(formatFailure(record)).toEqual(lost);
    const tasks = formatFailure({ code: 'ERR_TASK_FAILED', step: 'a', stepId: '1', status: 'failed', stage: 'tasks', task: 4, failed: 1, total: 5, cause: record });
    expect(tasks).toMatchObject({ name: 'NodeLostError', cause: lost });
    expect(tasks.message).toMatch(/^1 of 5 tasks failed; first failure \(task 4\): task 4 of step "crash" was lost with its node 3 times/);
  });

  it('says a job lost fewer than maxNodeLosses times runs again, and names hooks', () => {
    expect(formatFailure(nodeLost('s', { kind: 'task', seq: 1 }, 1, 3)).message).toBe(
      'task 1 of step "s" was lost with its node (1 of maxNodeLosses: 3): its node stopped responding (its lease expired ' +
        'without a heartbeat); it runs again, and the loss does not count as a failed attempt',
    );
    expect(formatFailure(nodeLost('s', { kind: 'after', seq: 0 }, 1, 1)).message).toMatch(
      /^the afterAll hook of step "s" was lost with its node 1 time \(maxNodeLosses: 1\): it may crash its process/,
    );
  });

  it('formats a node loss stored before maxNodeLosses (the code alone)', () => {
    expect(formatFailure(NODE_LOST)).toEqual({
      name: 'NodeLostError',
      code: 'ERR_NODE_LOST',
      message: 'the node running this job stopped responding (its lease expired without a heartbeat); the attempt was counted as failed',
    });
  });

  it('passes an error that has its message through untouched (handlers, records older PostgreSQL schemas stored)', () => {
    const preformatted = { name: 'StepFailedError', code: 'ERR_STEP_FAILED', message: 'step "a" failed: as written', step: 'a', stepId: '1' };
    expect(formatFailure(preformatted)).toBe(preformatted);
    expect(formatFailure(taskError)).toBe(taskError);
    expect(readFailure(JSON.stringify(preformatted))).toEqual(preformatted);
    expect(readFailure(null)).toBeNull();
    expect(readFailure('')).toBeNull();
  });

  it('shows a code it does not know rather than nothing', () => {
    expect(formatFailure({ code: 'ERR_FROM_THE_FUTURE' } as unknown as StoredError)).toMatchObject({
      name: 'Error',
      code: 'ERR_FROM_THE_FUTURE',
      message: 'failed (ERR_FROM_THE_FUTURE)',
    });
  });
});

describe('refusalError', () => {
  it('builds the error class of each refusal with its message and the record on it', () => {
    const closed = refusalError({ code: 'ERR_STEP_CLOSED', operation: 'addTasks', step: 's', stepId: '2', status: 'running', stage: 'after' });
    expect(closed).toBeInstanceOf(StepClosedError);
    expect(closed).toMatchObject({ code: 'ERR_STEP_CLOSED', operation: 'addTasks', step: 's', stepId: '2', status: 'running', stage: 'after' });
    expect(closed.message).toBe(
      'cannot add tasks to step "s": its tasks already ran (step is running, stage after). Add a new step with step.addAfter({ step, tasks }) instead.',
    );
    const phase = refusalError({ code: 'ERR_STEP_CLOSED', operation: 'addAfter', phase: 'task', step: 's', stepId: '2', status: 'running', stage: 'after' });
    expect(phase.message).toBe(
      'cannot add a step after the task phase of step "s": that phase is over (step is running, stage after). Call step.addAfter() from inside beforeAll, handler or afterAll.',
    );
    expect(refusalError({ code: 'ERR_NOT_FOUND', workflowId: 'w', stepId: '9' })).toBeInstanceOf(NotFoundError);
    expect(refusalError({ code: 'ERR_LEASE_LOST', nodeId: 'n' })).toBeInstanceOf(LeaseLostError);
    const twice = refusalError({ code: 'ERR_VALIDATION', reason: 'duplicate-step-id', workflowId: 'w', stepId: '1' });
    expect(twice).toBeInstanceOf(ValidationError);
    expect(twice.message).toBe('two steps of workflow w have the id "1"');
    const unknown = refusalError({ code: 'ERR_VALIDATION', reason: 'unknown-dependency', workflowId: 'w', step: 'b', stepId: '2', dependsOn: '7' });
    expect(unknown.message).toBe('step "b" depends on unknown step id "7"');
  });
});

describe('the node-loss rule', () => {
  it('fails a lost job for good once it was lost maxNodeLosses times, whatever its failed attempts', () => {
    expect(lostForGood(0, 1)).toBe(true);
    expect(lostForGood(0, 3)).toBe(false);
    expect(lostForGood(1, 3)).toBe(false);
    expect(lostForGood(2, 3)).toBe(true);
    expect(maxNodeLossesOf({})).toBe(DEFAULT_MAX_NODE_LOSSES);
    expect(maxNodeLossesOf({ maxNodeLosses: 5 })).toBe(5);
  });
});
