// Each pool under test behind one shape: start it, call the trivial task, close it.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import workerpool from 'workerpool';
import { createFarm, type FarmOptions } from '../../src/pool/index.js';

export interface Running {
  call: (x: number) => Promise<number>;
  close: () => Promise<void>;
}

export interface Contender {
  name: string;
  start(workers: number): Running;
}

const require = createRequire(import.meta.url);
const worker = (name: string): string => fileURLToPath(new URL(`./workers/${name}`, import.meta.url));

export function deflow(type: 'process' | 'thread', extra: Partial<FarmOptions> = {}): Contender {
  return {
    name: `deflow ${type}${extra.serializer !== undefined ? ` (${extra.serializer})` : ''}`,
    start(workers) {
      const farm = createFarm<{ default(x: number): number }>({ module: worker('trivial.mjs'), type, numberOfWorkers: workers, ...extra });
      return { call: (x) => farm.run(x), close: () => farm.kill() };
    },
  };
}

export function piscina(options: { concurrentTasksPerWorker?: number } = {}): Contender {
  return {
    name: `piscina${options.concurrentTasksPerWorker !== undefined ? ` (${options.concurrentTasksPerWorker}/worker)` : ''}`,
    start(workers) {
      const pool = new Piscina({ filename: worker('trivial.mjs'), minThreads: workers, maxThreads: workers, ...options });
      return { call: (x) => pool.run(x) as Promise<number>, close: () => pool.destroy() };
    },
  };
}

export function workerFarm(): Contender {
  type Farm = ((x: number, callback: (error: Error | null, result: number) => void) => void) & { end?: never };
  type WorkerFarmModule = ((options: Record<string, unknown>, path: string) => Farm) & { end(farm: Farm, callback?: () => void): void };
  const create = require('worker-farm') as WorkerFarmModule;
  return {
    name: 'worker-farm',
    start(workers) {
      const farm = create({ maxConcurrentWorkers: workers, maxConcurrentCallsPerWorker: 10 }, worker('trivial-worker-farm.cjs'));
      return {
        call: (x) => new Promise((resolve, reject) => farm(x, (error, result) => (error !== null ? reject(error) : resolve(result)))),
        close: () => new Promise((resolve) => create.end(farm, () => resolve())),
      };
    },
  };
}

export function workerPool(type: 'process' | 'thread'): Contender {
  return {
    name: `workerpool ${type}`,
    start(workers) {
      const pool = workerpool.pool(worker('trivial-workerpool.cjs'), { workerType: type, minWorkers: workers, maxWorkers: workers });
      return {
        call: (x) => pool.exec('increment', [x]),
        close: async () => {
          await pool.terminate();
        },
      };
    },
  };
}
