/** Per-test setup shared by every conformance file: a fresh store, one registration, no leaks. */
import { afterEach, beforeEach } from 'vitest';
import DeFlow from '../../src/index.js';
import type { BackendUnderTest } from '../helpers/backends.js';
import { stopAllNodes } from '../helpers/nodes.js';

export interface Conformance {
  backend: BackendUnderTest;
  /** Register options of the current test's fresh store. */
  options(): Record<string, unknown>;
  /** Registers this process on the current store (once per test). */
  register(extra?: Record<string, unknown>): Promise<DeFlow>;
}

export function useConformance(backend: BackendUnderTest): Conformance {
  let current: Record<string, unknown> = {};
  beforeEach(async () => {
    current = await backend.fresh();
  });
  afterEach(async () => {
    await DeFlow.unregister();
    await stopAllNodes();
    await backend.cleanup();
  });
  return {
    backend,
    options: () => current,
    async register(extra = {}) {
      const deflow = DeFlow.register({ checkProcessQueueInterval: 200, ...current, ...extra });
      return deflow.ready();
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value other than undefined. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
