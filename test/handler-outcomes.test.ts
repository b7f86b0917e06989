/**
 * What the engine records for handlers that misbehave in ways a try/catch and a timer miss: an
 * error made in another realm (a `vm` context, a test sandbox), and a synchronous handler that
 * blocks the event loop past its timeout. The recording is the engine's (TypeScript), the same
 * on every backend, so it runs on SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';
import type { WorkflowResult } from '../src/index.js';

const dirs: string[] = [];
function register(): void {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-outcomes-'));
  dirs.push(dir);
  DeFlow.register({ backend: `sqlite:${join(dir, 'db.sqlite')}` });
}

afterEach(async () => {
  await DeFlow.unregister();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Runs one step to its end; a failed workflow's result is what the test reads. */
async function settle(workflow: WorkFlow): Promise<WorkflowResult> {
  try {
    return await workflow.done();
  } catch (error) {
    const result = (error as { result?: WorkflowResult }).result;
    if (result === undefined) throw error;
    return result;
  }
}

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // blocks the event loop, as CPU-bound code does
  }
}

const foreignError = new StepHandler<unknown, number, number>({
  name: 'outcomes-foreign-error',
  handler() {
    throw runInNewContext('new TypeError("x")') as Error;
  },
});

const seenByOnHandlerError: unknown[] = [];
const foreignInHook = new StepHandler<unknown, number, number>({
  name: 'outcomes-foreign-hook',
  handler() {
    throw runInNewContext('const e = new RangeError("out of range"); e.code = "E_RANGE"; e') as Error;
  },
  onHandlerError(_task, _step, error) {
    seenByOnHandlerError.push(error);
  },
});

const blocksSync = new StepHandler<unknown, number, string>({
  name: 'outcomes-blocks-sync',
  handler(task) {
    busyWait(task.data);
    return 'finished';
  },
});

const blocksThenAwaits = new StepHandler<unknown, number, string>({
  name: 'outcomes-blocks-async',
  async handler(task) {
    await Promise.resolve();
    busyWait(task.data);
    return 'finished';
  },
});

const quick = new StepHandler<unknown, number, number>({ name: 'outcomes-quick', handler: (task) => task.data * 2 });

describe('handler outcomes', () => {
  it("keeps the name, message and stack of an error made in another realm (vm)", async () => {
    register();
    const result = await settle(WorkFlow.create('foreign').addStep({ step: foreignError, tasks: [1] }).run());
    const error = result.steps[0]?.tasks[0]?.error;
    expect(error).toMatchObject({ name: 'TypeError', message: 'x' });
    expect(error?.stack).toMatch(/^TypeError: x\n/);
  });

  it('hands onHandlerError the foreign error itself, and keeps its own properties', async () => {
    register();
    seenByOnHandlerError.length = 0;
    const result = await settle(WorkFlow.create('foreign-hook').addStep({ step: foreignInHook, tasks: [1] }).run());
    expect(result.steps[0]?.tasks[0]?.error).toMatchObject({ name: 'RangeError', message: 'out of range', code: 'E_RANGE' });
    expect(seenByOnHandlerError).toHaveLength(1);
    expect(seenByOnHandlerError[0]).toMatchObject({ name: 'RangeError', message: 'out of range', code: 'E_RANGE' });
  });

  it("fails, with a TimeoutError, an attempt that blocked the event loop past taskTimeout (isolation: 'none')", async () => {
    register();
    const result = await settle(
      WorkFlow.create('blocking')
        .addStep({ name: 'sync', step: blocksSync, tasks: [400], options: { taskTimeout: 100 } })
        .addStep({ name: 'async', step: blocksThenAwaits, tasks: [400], options: { taskTimeout: 100 }, dependsOn: [] })
        .addStep({ name: 'in-time', step: blocksSync, tasks: [0], options: { taskTimeout: 10_000 }, dependsOn: [] })
        .run(),
    );
    for (const name of ['sync', 'async']) {
      const task = result.steps.find((step) => step.name === name)?.tasks[0];
      expect(task?.status).toBe('failed');
      expect(task?.error).toMatchObject({ name: 'TimeoutError', code: 'ERR_TIMEOUT', message: expect.stringMatching(/timed out after 100 ms/) as unknown });
    }
    expect(result.steps.find((step) => step.name === 'in-time')?.tasks[0]).toMatchObject({ status: 'succeeded', result: 'finished' });
  });

  it('still runs a quick handler with a timeout as before', async () => {
    register();
    const result = await WorkFlow.create('quick').addStep({ step: quick, tasks: [1, 2], options: { taskTimeout: 5_000 } }).run().done();
    expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual([2, 4]);
  });
});
