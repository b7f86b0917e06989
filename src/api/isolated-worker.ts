/**
 * What an isolation worker (thread or child process) runs: import a step's module, find its
 * handler, run one task. Only `handler` runs here; the lifecycle methods that need the backend
 * (beforeAll, afterEach, afterAll, onHandlerError) stay on the node. Inside, the Step can be
 * read but not used to reach the backend: addTasks, addAfter and the reads reject.
 */
import type { Backend } from '../backends/backend.js';
import { DeflowError } from '../errors.js';
import { toJson } from '../engine/json.js';
import { findHandler } from '../engine/handler-registry.js';
import type { IsolatedCall } from '../engine/handler-contract.js';
import { toStepOptions } from './options.js';
import { Step } from './step.js';
import { Task } from './task.js';

const TYPESCRIPT = /\.[cm]?tsx?$/;
// Running from source means tsx already loads this file (and any TypeScript it imports).
let tsxReady = TYPESCRIPT.test(import.meta.url);

/** Step methods that need the backend reject inside a worker, saying where to call them instead. */
const detached = new Proxy({} as Backend, {
  get: (_target, operation) => () =>
    Promise.reject(
      new DeflowError(
        'ERR_ISOLATED',
        `step.${String(operation)}() is not available in an isolated handler (isolation: 'thread' | 'process'); ` +
          'call it from beforeAll or afterAll, which run on the node',
      ),
    ),
});

export async function runHandler(call: IsolatedCall): Promise<string | null> {
  if (!tsxReady && TYPESCRIPT.test(call.moduleUrl)) {
    const { register } = await import('tsx/esm/api');
    register();
    tsxReady = true;
  }
  await import(call.moduleUrl);
  const handler = findHandler(call.handlerKey);
  if (handler?.handler === undefined) {
    throw new DeflowError('ERR_STEP_MODULE', `${call.moduleUrl} defines no StepHandler "${call.handlerKey}" with a handler`);
  }
  const { job, step } = call;
  const task = Task.fromJob(job);
  const stepView = new Step(
    {
      workflowId: step.workflowId,
      id: step.stepId,
      name: step.name,
      index: step.runIndex - 1,
      dataJson: step.dataJson,
      taskCount: call.taskCount,
      options: toStepOptions(step.options),
      parentId: step.parentId,
      status: 'running',
      error: null,
    },
    detached,
    null,
  );
  const result: unknown = await handler.handler(task, stepView);
  // Its size is checked by the node, which knows the registered limit (engine/isolation.ts).
  return toJson(result, `the result of task ${job.seq} of step "${step.name}"`, true, Infinity);
}
