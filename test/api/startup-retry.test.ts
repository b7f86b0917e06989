/**
 * startupTimeout counts the time spent waiting for the server, not the time the first attempt
 * spends loading the backend's driver (on a loaded machine, importing ioredis and reading the
 * Lua scripts can take longer than a short startupTimeout: the node then gave up without one retry).
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import type { ChosenBackend } from '../../src/backends/registry.js';
import { openBackend } from '../../src/api/startup-retry.js';
import { TestClock } from '../../src/clock.js';
import { BackendUnavailableError } from '../../src/errors.js';

/** A backend whose server is down for the first `failures` attempts; its first create() takes `loadMs` on the clock. */
function slowToLoad(clock: TestClock, loadMs: number, failures: number): { chosen: ChosenBackend; attempts: () => number; loaded: Promise<void> } {
  let created = 0;
  let markLoaded = (): void => undefined;
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
  let opened = 0;
  const backend = {
    location: 'fake://down',
    open: async () => {
      opened++;
      if (opened <= failures) throw new BackendUnavailableError('cannot reach the fake server');
    },
    close: async () => undefined,
  } as unknown as Backend;
  const chosen = {
    kind: 'redis',
    label: 'Fake',
    config: {},
    async create() {
      created++;
      if (created === 1) {
        await clock.advance(loadMs); // loading the driver, the first time only
        markLoaded();
      }
      return backend;
    },
  } as unknown as ChosenBackend;
  return { chosen, attempts: () => opened, loaded };
}

describe('startup retry', () => {
  it('starts counting startupTimeout at the first attempt to reach the server, not while the driver loads', async () => {
    const clock = new TestClock();
    const { chosen, attempts, loaded } = slowToLoad(clock, 3_000, 1);
    const retries: string[] = [];
    const opening = openBackend(chosen, {
      timeoutMs: 1_500,
      clock,
      onRetry: (error) => retries.push(error.message),
      cancelled: () => false,
      onCancel: () => undefined,
    });
    let opened: Backend | undefined;
    void opening.then((backend) => (opened = backend)).catch(() => undefined);
    await loaded; // the test moves the clock only once the load is over: two advances at once would race
    for (let i = 0; i < 20 && opened === undefined; i++) await clock.advance(100);
    expect(await opening).toBeDefined();
    expect(attempts()).toBe(2);
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatch(/cannot reach the fake server\. Trying again in /);
  });

  it('still gives up once startupTimeout ran out after the first attempt', async () => {
    const clock = new TestClock();
    const { chosen, attempts, loaded } = slowToLoad(clock, 3_000, Infinity);
    const opening = openBackend(chosen, { timeoutMs: 1_500, clock, onRetry: () => undefined, cancelled: () => false, onCancel: () => undefined });
    const failure = opening.catch((error: unknown) => error);
    await loaded;
    for (let i = 0; i < 40; i++) await clock.advance(100);
    expect(await failure).toBeInstanceOf(BackendUnavailableError);
    expect(String(await failure)).toMatch(/gave up waiting for Fake at fake:\/\/down after 1\.\d s and \d+ attempts/);
    expect(attempts()).toBeGreaterThan(1);
  });
});
