/**
 * deflow/workestrator: Workestrator's API on deflow's worker pool, for code written against
 * Workestrator's README. Works with `require('deflow/workestrator')` and with `import`.
 *
 *   const workestrator = require('deflow/workestrator');
 *   const farm = workestrator.create({ module: require.resolve('./worker') });
 *   await farm.run(1, 2, 3);
 *   workestrator.kill();
 *
 * Reference and the differences from deflow/pool: docs/pool.md, "deflow/workestrator".
 */
import {
  CallMaxRetryError,
  CallSerializationError,
  DeflowError,
  MaxConcurrentCallsError,
  ModuleLoadError,
  TimeoutError,
  ValidationError,
  WorkerTerminatedError,
} from '../pool/errors.js';
import { killAllWorkestratorFarms, WorkestratorFarm } from './farm.js';
import { serializers, type WorkestratorOptions } from './options.js';
import { Serializer } from './serializer.js';

/**
 * Creates a farm; its first workers are spawned at once (`farm.workers` lists them). Throws a
 * ValidationError for bad options.
 * @typeParam M the worker module's type, to type run/runMethod; leave it out for untyped calls.
 */
export function create<M = unknown>(options: WorkestratorOptions): WorkestratorFarm<M> {
  return new WorkestratorFarm<M>(options);
}

/** Kills every farm made by create(): their pending calls reject; resolves once all workers have exited. */
export function kill(): Promise<void> {
  return killAllWorkestratorFarms();
}

export { serializers, Serializer, WorkestratorFarm };
export { WorkestratorWorker } from './worker.js';
export type { WorkestratorFarmEvents } from './farm.js';
export type { ResolvedWorkestratorOptions, WorkestratorOptions } from './options.js';
export type { WorkestratorMessage, WorkestratorWorkerEvents } from './worker.js';
export {
  CallMaxRetryError,
  CallSerializationError,
  DeflowError,
  MaxConcurrentCallsError,
  ModuleLoadError,
  TimeoutError,
  ValidationError,
  WorkerTerminatedError,
};

/** `import workestrator from 'deflow/workestrator'`, as ESM code importing Workestrator's CommonJS module wrote. */
const workestrator = {
  create,
  kill,
  serializers,
  Serializer,
  CallMaxRetryError,
  CallSerializationError,
  MaxConcurrentCallsError,
  ModuleLoadError,
  TimeoutError,
  ValidationError,
  WorkerTerminatedError,
};
export default workestrator;
