/**
 * Steps with isolation: 'thread' | 'process' run their handler in the node's worker pool: on
 * another thread or process, and a task that exceeds its timeout is really stopped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow, WorkflowFailedError } from '../src/index.js';
import { reachesOut, returnsMap, spinForever, whereAmI } from './fixtures/steps/isolated.js';

const dirs: string[] = [];
function register(): void {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-isolation-'));
  dirs.push(dir);
  DeFlow.register({ backend: `sqlite:${join(dir, 'db.sqlite')}`, poolSize: 2 });
}

afterEach(async () => {
  await DeFlow.unregister();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('step isolation', () => {
  it("runs handlers in child processes with isolation: 'process'", async () => {
    register();
    const result = await WorkFlow.create('in-processes')
      .addStep({ step: whereAmI, tasks: [10, 20, 30, 40], data: { label: 'p' }, options: { isolation: 'process', taskConcurrency: 4 } })
      .run()
      .done();
    const results = result.steps[0]?.tasks.map((task) => task.result as { pid: number; square: number; label: string; index: number }) ?? [];
    expect(results.map((r) => r.square)).toEqual([100, 400, 900, 1600]);
    expect(results.every((r) => r.pid !== process.pid && r.label === 'p' && r.index === 0)).toBe(true);
    expect(new Set(results.map((r) => r.pid)).size).toBeLessThanOrEqual(2); // poolSize
  });

  it("runs handlers in worker threads with isolation: 'thread'", async () => {
    register();
    const result = await WorkFlow.create('in-threads')
      .addStep({ step: whereAmI, tasks: [3, 4], data: { label: 't' }, options: { isolation: 'thread', taskConcurrency: 2 } })
      .run()
      .done();
    const results = result.steps[0]?.tasks.map((task) => task.result as { pid: number; threadId: number; square: number }) ?? [];
    expect(results.map((r) => r.square)).toEqual([9, 16]);
    expect(results.every((r) => r.pid === process.pid && r.threadId !== threadId)).toBe(true);
  });

  it('really stops a handler that never returns when it times out, and keeps going', async () => {
    register();
    const workflow = WorkFlow.create('runaway')
      .addStep({ name: 'spin', step: spinForever, tasks: [1], options: { isolation: 'thread', taskTimeout: 300, taskMaxFailCount: 2 } })
      .addStep({ name: 'after', step: whereAmI, tasks: [2], data: { label: 'after' }, dependsOn: ['spin'], when: 'failure' })
      .run();
    const result = await workflow.done(); // the failure branch handles it
    const spin = result.steps.find((step) => step.name === 'spin');
    expect(spin?.tasks[0]).toMatchObject({ status: 'failed', failedCount: 2 });
    expect(spin?.tasks[0]?.error).toMatchObject({ name: 'TimeoutError', code: 'ERR_TIMEOUT' });
    expect(result.steps.find((step) => step.name === 'after')?.status).toBe('succeeded');
  });

  it('tells a handler that reaches for the backend from a worker where to do it instead', async () => {
    register();
    const result = await WorkFlow.create('reaches-out')
      .addStep({ step: reachesOut, tasks: [1], options: { isolation: 'process' } })
      .run()
      .done();
    expect(result.steps[0]?.tasks[0]?.result).toMatch(/^ERR_ISOLATED: step.addTasks\(\) is not available in an isolated handler/);
  });

  it('rejects an unknown isolation at the call that received it', () => {
    expect(() => WorkFlow.create('bad').addStep({ step: whereAmI, options: { isolation: 'cluster' as never } })).toThrow(
      /options.isolation must be "none", "thread" or "process", got "cluster"/,
    );
  });

  it('fails a task whose isolated handler returns something JSON cannot hold, saying what', async () => {
    register();
    const error = (await WorkFlow.create('bad-result')
      .addStep({ step: returnsMap, tasks: [1], options: { isolation: 'thread' } })
      .run()
      .done()
      .catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.result.steps[0]?.tasks[0]?.error?.message).toMatch(/the result of task 1 of step "fixture-returns-map" is not JSON-serialisable: it holds a Map/);
  });
});
