// Shared by the deflow/workestrator tests: fixtures, farms with leak tracking, event waits.
import { afterEach, expect } from 'vitest';
import { create, kill, type WorkestratorFarm, type WorkestratorFarmEvents, type WorkestratorOptions } from '../../src/workestrator/index.js';
import { isAlive } from '../pool/helpers.js';

export { captureUncaught, isAlive, tempFile, waitFor, within } from '../pool/helpers.js';

export function fixture(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

export const WORKER = fixture('worker.cjs');

const farms: WorkestratorFarm[] = [];
const pids = new Set<number>();

/** create(), one worker unless told otherwise, tracked for the leak check. */
export function makeFarm(options: Partial<WorkestratorOptions> = {}): WorkestratorFarm {
  return track(create({ module: WORKER, numberOfWorkers: 1, ...options }));
}

/** Tracks a farm made by create(): its workers' processes must all be gone after the test. */
export function track(farm: WorkestratorFarm): WorkestratorFarm {
  farms.push(farm);
  for (const worker of farm.workers) if (worker.pid !== undefined) pids.add(worker.pid);
  farm.on('fork', (worker) => {
    if (worker.pid !== undefined) pids.add(worker.pid);
  });
  return farm;
}

/** Each test kills its farms; after it, none is alive and no worker process is left. */
export function checkLeaksAfterEach(): void {
  afterEach(async () => {
    const alive = farms.filter((farm) => !farm.killed).length;
    await kill();
    await Promise.all(farms.splice(0).map((farm) => farm.kill()));
    expect(alive, 'farms left alive by the test').toBe(0);
    for (const pid of pids) expect(isAlive(pid), `process ${pid} still running`).toBe(false);
    pids.clear();
  });
}

/** Resolves with the arguments of the next `event` of an emitter (a farm or a worker). */
export function nextEvent<E extends keyof WorkestratorFarmEvents>(farm: WorkestratorFarm, event: E): Promise<WorkestratorFarmEvents[E]>;
export function nextEvent(emitter: { once(event: string, listener: (...args: never[]) => void): unknown }, event: string): Promise<unknown[]>;
export function nextEvent(emitter: { once(event: string, listener: (...args: never[]) => void): unknown }, event: string): Promise<unknown[]> {
  // Not events.once(): it listens to 'error' too, which would change what the farm emits.
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args)));
}

/** Collects an emitter's events in order. */
export function recordEvents(emitter: { on(event: string, listener: (...args: never[]) => void): unknown }, events: string[]): { event: string; args: unknown[] }[] {
  const log: { event: string; args: unknown[] }[] = [];
  for (const event of events) emitter.on(event, (...args: unknown[]) => log.push({ event, args }));
  return log;
}

/** Settles a promise into a value (never rejects), so a test can await it later. */
export function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}
