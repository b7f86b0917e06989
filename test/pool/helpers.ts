// Shared by the pool tests: fixture paths, farm creation with leak tracking, event waits.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import { createFarm, killAllFarms, type Farm, type FarmOptions, type FarmEvents } from '../../src/pool/index.js';
import { liveFarmCount } from '../../src/pool/live-farms.js';
import type * as BasicModule from './fixtures/basic.js';

export type Basic = typeof BasicModule;

export function fixture(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

const spawnedPids = new Set<number>();
let forks = 0;
let exits = 0;

/** createFarm, plus bookkeeping for the leak check. */
export function makeFarm<M = Basic>(options: Partial<FarmOptions> & Pick<FarmOptions, 'module'>): Farm<M> {
  const farm = createFarm<M>({ numberOfWorkers: 1, ...options });
  farm.on('fork', (worker) => {
    forks++;
    if (worker.pid !== undefined) spawnedPids.add(worker.pid);
  });
  farm.on('exit', () => exits++);
  return farm;
}

export function basicFarm(options: Partial<FarmOptions> = {}): Farm<Basic> {
  return makeFarm<Basic>({ module: fixture('basic.ts'), ...options });
}

/**
 * Every test must kill its farms: after each test no farm may be alive, every spawned worker
 * must have exited, and every child process must be gone from the OS.
 */
export function checkLeaksAfterEach(): void {
  afterEach(async () => {
    const leakedFarms = liveFarmCount();
    await killAllFarms();
    expect(leakedFarms, 'farms left alive by the test').toBe(0);
    expect(exits, 'workers that never exited').toBe(forks);
    for (const pid of spawnedPids) expect(isAlive(pid), `process ${pid} still running`).toBe(false);
    spawnedPids.clear();
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the arguments of the next `event` of the farm. */
export function nextEvent<E extends keyof FarmEvents>(farm: Farm<unknown> | Farm<Basic>, event: E): Promise<FarmEvents[E]> {
  // Not events.once(): it listens to 'error' too, which would change what the farm emits.
  return new Promise((resolve) => (farm as Farm<unknown>).once(event, ((...args: FarmEvents[E]) => resolve(args)) as never));
}

/** Collects the events of a farm in order, with a timestamp. */
export function recordEvents(farm: Farm<unknown> | Farm<Basic>, events: (keyof FarmEvents)[]): { event: string; at: number; args: unknown[] }[] {
  const log: { event: string; at: number; args: unknown[] }[] = [];
  for (const event of events) {
    farm.on(event, (...args: unknown[]) => log.push({ event, at: performance.now(), args }));
  }
  return log;
}

/** Polls `predicate` until it holds (for states no event announces). */
export async function waitFor(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function tempFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deflow-pool-'));
  return path.join(dir, name);
}

export const TYPES = ['process', 'thread'] as const;

/** Observes promises right away (no unhandled rejection while the test does something else). */
export function settledLater<T>(...promises: Promise<T>[]): Promise<PromiseSettledResult<T> & { reason?: unknown }>[] {
  return promises.map((promise) =>
    promise.then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    ),
  );
}

/**
 * Takes over uncaught exceptions until `restore()`: a throwing event listener's error is
 * rethrown by the farm on the next tick, and Vitest would count it as a failure of the run.
 */
export function captureUncaught(): { errors: Error[]; restore(): void } {
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const errors: Error[] = [];
  const capture = (error: Error): void => {
    errors.push(error);
  };
  process.on('uncaughtException', capture);
  return {
    errors,
    restore() {
      process.off('uncaughtException', capture);
      for (const listener of saved) process.on('uncaughtException', listener);
    },
  };
}

/** Rejects if `promise` is still pending after `ms`: a test about a call that might hang fails instead of timing out. */
export function within<T>(promise: Promise<T>, ms = 20_000, what = 'the call'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} was still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
