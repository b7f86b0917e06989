/**
 * A rate limit holds across real node processes (docs/concepts.md#rate-limits): ten nodes
 * claim one rate-limited step, every handler records when it started (in its stored result),
 * and no window of `per` holds more than `max` starts, while the rate stays near the limit;
 * with a keyed limit, the same holds for each key value on its own.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import stamp from '../fixtures/steps/stamp.js';
import type { StampResult } from '../fixtures/steps/stamp.js';
import { startNode } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { mostStartsInWindow } from './rate-limits.js';

const NODES = 10;

export function rateLimitProcesses(t: Conformance): void {
  describe('rate limits across processes', () => {
    it(`never starts more than max in a window of per with ${NODES} node processes claiming, and reaches the rate`, async () => {
      // Two at a time: ten processes starting at once on a loaded two-core machine outlast the ready timeout.
      const nodes = [];
      for (let i = 0; i < NODES; i += 2) nodes.push(...(await Promise.all([startNode(t.options()), startNode(t.options())])));
      await t.register({ worker: false });
      const max = 20;
      const per = 1_000;
      await DeFlow.setRateLimit('shared-api', { max, per });
      const tasks = Array.from({ length: 5 * max + 10 }, (_, i) => i);
      const result = await WorkFlow.create('rate-processes')
        .addStep({ step: stamp, tasks, options: { rateLimit: 'shared-api', taskConcurrency: 4 } })
        .run()
        .done();
      const stamps = (result.steps[0]?.tasks ?? []).map((task) => task.result as StampResult);
      expect(stamps).toHaveLength(tasks.length);
      const times = stamps.map((s) => s.startedAt).sort((a, b) => a - b);
      // A start counts when the backend hands the task out; the handler begins later, by as much
      // as a loaded two-core machine running ten nodes delays it: the window is checked with a
      // quarter of slack. A limit counted per node (10 × max) or a token bucket (2 × max) still
      // shows far above max.
      expect(mostStartsInWindow(times, per - 250)).toBeLessThanOrEqual(max);
      // 110 starts at 20 per second need windows starting at 0, 1, ..., 5 s: the last start
      // comes a little after 5 s, not much later (the rate stays near the limit).
      const span = (times.at(-1) ?? 0) - (times[0] ?? 0);
      expect(span).toBeGreaterThanOrEqual(5 * per - 50);
      expect(span).toBeLessThan(5 * per + 1_500);
      // Many nodes took part.
      expect(new Set(stamps.map((s) => s.pid)).size).toBeGreaterThanOrEqual(3);
    }, 240_000);

    it(`holds a keyed rate limit per key value with ${NODES} node processes claiming, each key reaching the rate`, async () => {
      const nodes = [];
      for (let i = 0; i < NODES; i += 2) nodes.push(...(await Promise.all([startNode(t.options()), startNode(t.options())])));
      await t.register({ worker: false });
      const max = 10;
      const per = 1_000;
      await DeFlow.setRateLimit('per-account-api', { max, per });
      const accounts = ['acme', 'globex', 'initech'];
      // 35 tasks per account, interleaved: at 10 per second each, windows start at 0, 1, 2, 3 s.
      const tasks = Array.from({ length: 35 * accounts.length }, (_, i) => ({ account: accounts[i % accounts.length], i }));
      const result = await WorkFlow.create('keyed-rate-processes')
        .addStep({ step: stamp, tasks, options: { rateLimit: { name: 'per-account-api', key: 'account' }, taskConcurrency: 4 } })
        .run()
        .done();
      const stamps = (result.steps[0]?.tasks ?? []).map((task) => task.result as StampResult);
      expect(stamps).toHaveLength(tasks.length);
      for (const account of accounts) {
        // Counted from the handlers' side, per key value (slack on the window as above).
        const times = stamps.filter((_, i) => tasks[i]?.account === account).map((s) => s.startedAt).sort((a, b) => a - b);
        expect(times).toHaveLength(35);
        expect(mostStartsInWindow(times, per - 250)).toBeLessThanOrEqual(max);
        const span = (times.at(-1) ?? 0) - (times[0] ?? 0);
        expect(span).toBeGreaterThanOrEqual(3 * per - 50);
        expect(span).toBeLessThan(3 * per + 1_500);
      }
      // The keys ran side by side: all three together started more than one key's max per window.
      expect(mostStartsInWindow(stamps.map((s) => s.startedAt), per - 250)).toBeGreaterThan(max);
      expect(new Set(stamps.map((s) => s.pid)).size).toBeGreaterThanOrEqual(3);
    }, 240_000);
  });
}
