/**
 * Concurrency limits hold across real node processes: each attempt of the counted fixture adds
 * itself to counters in a SQLite file every process writes, so the highest count seen is the
 * true number of attempts in flight at once, whichever nodes ran them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkFlow } from '../../src/index.js';
import counted, { counterDb } from '../fixtures/steps/counted.js';
import type { CountedData } from '../fixtures/steps/counted.js';
import { startNode } from '../helpers/nodes.js';
import type { Conformance } from './context.js';

function maxima(file: string): Map<string, number> {
  const rows = counterDb(file).prepare('SELECT name, max FROM counters').all() as { name: string; max: number }[];
  return new Map(rows.map((row) => [row.name, row.max]));
}

export function concurrencyProcesses(t: Conformance): void {
  describe('Concurrency limits across processes', () => {
    const dirs: string[] = [];
    afterEach(() => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });
    const counterFile = (): string => {
      const dir = mkdtempSync(join(tmpdir(), 'deflow-counters-'));
      dirs.push(dir);
      const file = join(dir, 'counters.db');
      counterDb(file); // created (WAL, table) here, before the nodes open it
      return file;
    };

    it('globalConcurrency holds across three nodes, and is reached', async () => {
      const file = counterFile();
      const nodes = await Promise.all([startNode(t.options()), startNode(t.options()), startNode(t.options())]);
      await t.register({ worker: false });
      const tasks: CountedData[] = Array.from({ length: 36 }, (_, value) => ({ value, counters: ['step'], ms: 60, file }));
      const result = await WorkFlow.create('global-nodes')
        .addStep({ step: counted, tasks, options: { taskConcurrency: 2, globalConcurrency: 3 } })
        .run()
        .done();
      expect(result.steps[0]?.tasks.map((task) => (task.result as { value: number }).value)).toEqual(tasks.map((task) => task.value));
      expect(maxima(file).get('step')).toBe(3);
      const pids = new Set(result.steps[0]?.tasks.map((task) => (task.result as { pid: number }).pid));
      expect(pids.size).toBeGreaterThan(1); // two lanes per node: reaching 3 took several nodes
      expect([...pids].every((pid) => nodes.some((node) => node.pid === pid))).toBe(true);
    }, 90_000);

    it('keyConcurrency holds per key across three nodes and two workflows, and is reached', async () => {
      const file = counterFile();
      await Promise.all([startNode(t.options()), startNode(t.options()), startNode(t.options())]);
      await t.register({ worker: false });
      const options = { taskConcurrency: 4, concurrencyKey: 'key', keyConcurrency: 2 };
      const tasksOf = (offset: number): CountedData[] =>
        Array.from({ length: 24 }, (_, i) => {
          const key = `k${i % 3}`;
          return { value: offset + i, key, counters: [key, 'all'], ms: 60, file };
        });
      const [one, two] = await Promise.all([
        WorkFlow.create('keys-nodes-1').addStep({ step: counted, tasks: tasksOf(0), options }).run().done(),
        WorkFlow.create('keys-nodes-2').addStep({ step: counted, tasks: tasksOf(100), options }).run().done(),
      ]);
      expect(one.status).toBe('succeeded');
      expect(two.status).toBe('succeeded');
      const seen = maxima(file);
      expect([seen.get('k0'), seen.get('k1'), seen.get('k2')]).toEqual([2, 2, 2]);
      expect(seen.get('all')).toBeGreaterThan(2); // keys ran side by side
    }, 90_000);
  });
}
