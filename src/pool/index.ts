/**
 * deflow/pool: run CPU-heavy functions on every core, in child processes or worker threads.
 *
 *   import { createFarm } from 'deflow/pool';
 *   const farm = createFarm({ module: new URL('./worker.js', import.meta.url) });
 *   await farm.run(1, 2);
 *   await farm.kill();
 *
 * Reference: docs/pool.md.
 */
export { createFarm, Farm } from './farm.js';
export type { FarmCallOptions, FarmMethodName, FarmState } from './farm.js';
export type { FarmEvents, FarmMessage } from './farm-events.js';
export { killAllFarms } from './live-farms.js';
export type { FarmForkOptions, FarmOptions, FarmThreadOptions, FarmWorkerType, ResolvedFarmOptions } from './options.js';
export type { FarmSerializer, FarmSerializerName } from './serializers.js';
export type { FarmWorkerInfo, FarmStopReason, FarmWorkerState } from './worker.js';
export {
  CallMaxRetryError,
  DeflowError,
  MaxConcurrentCallsError,
  ModuleLoadError,
  CallSerializationError,
  TimeoutError,
  ValidationError,
  WorkerTerminatedError,
} from './errors.js';
