/**
 * Idempotent starts across real processes: several processes start one definition under one id
 * at the same instant; exactly one creates the workflow, every other gets a handle on it, and
 * the workflow, its listings by name and key, and its tasks exist once.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import { startNode } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { echoResults } from './process-tools.js';

const STARTER = fileURLToPath(new URL('../fixtures/start-definition.ts', import.meta.url));

interface Starter {
  child: ChildProcess;
  message(type: string): Promise<Record<string, unknown>>;
}

function starter(options: Record<string, unknown>, id: string, key: string): Starter {
  const child = fork(STARTER, [JSON.stringify(options), id, key], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const seen: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  child.on('message', (message: Record<string, unknown>) => {
    seen.push(message);
    for (const waiter of waiters.filter((w) => w.type === message.type || message.type === 'failed')) waiter.resolve(message);
  });
  return {
    child,
    message: (type) => {
      const past = seen.find((m) => m.type === type || m.type === 'failed');
      return past !== undefined ? Promise.resolve(past) : new Promise((resolve) => waiters.push({ type, resolve }));
    },
  };
}

export function idempotentProcesses(t: Conformance): void {
  describe('idempotent starts from several processes', () => {
    it('creates one workflow when four processes start one id at the same instant', async () => {
      await startNode(t.options());
      await t.register({ worker: false });
      const starters = Array.from({ length: 4 }, () => starter(t.options(), 'order-42-echoes', 'order-42'));
      try {
        await Promise.all(starters.map((s) => s.message('ready')));
        starters.forEach((s, i) => s.child.send({ type: 'go', value: (i + 1) * 10 }));
        const started = await Promise.all(starters.map((s) => s.message('started')));
        expect(started.map((m) => m.type)).toEqual(['started', 'started', 'started', 'started']);
        expect(started.every((m) => m.id === 'order-42-echoes')).toBe(true);
        expect(started.filter((m) => m.created === true)).toHaveLength(1);
        expect(started.filter((m) => m.created === false)).toHaveLength(3);
        const workflow = await WorkFlow.getById('order-42-echoes');
        expect(workflow).toMatchObject({ name: 'fixture-echoes', key: 'order-42' });
        const result = await (workflow as WorkFlow).done();
        // The tasks of the one start that created it, each run once.
        const values = echoResults(result).map((r) => r.value);
        expect(values).toHaveLength(2);
        expect([10, 20, 30, 40]).toContain(values[0]);
        expect(values[1]).toBe((values[0] ?? 0) + 1);
        expect((await WorkFlow.getByName('fixture-echoes')).map((w) => w.id)).toEqual(['order-42-echoes']);
        expect((await WorkFlow.getByKey('order-42')).map((w) => w.id)).toEqual(['order-42-echoes']);
        const { backend } = await DeFlow.getInstance().services();
        expect((await backend.listWorkflows({ limit: 100 })).map((w) => w.id)).toEqual(['order-42-echoes']);
        // Removed, it leaves no entry behind in any listing.
        await (workflow as WorkFlow).clean();
        expect(await backend.listWorkflows({ limit: 100 })).toEqual([]);
        expect(await WorkFlow.getByKey('order-42')).toEqual([]);
        expect(await WorkFlow.getByName('fixture-echoes')).toEqual([]);
      } finally {
        for (const s of starters) if (s.child.exitCode === null) s.child.kill('SIGKILL');
      }
    }, 90_000);
  });
}
