/**
 * Retry across processes: the work runs in a node process, the retry is made here, and a handle
 * held by a third process, whose done() had settled with the failure, follows the new outcome.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow, WorkflowFailedError } from '../../src/index.js';
import flagFile from '../fixtures/flag-file-step.js';
import { startNode } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';

const FOLLOW_TWICE = fileURLToPath(new URL('../fixtures/follow-twice.ts', import.meta.url));

export function retryProcesses(t: Conformance): void {
  describe('Retry with node processes', () => {
    it('runs a retry in a node process, and a handle in another process follows the new outcome', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'deflow-retry-'));
      const flag = join(dir, 'broken');
      writeFileSync(flag, '');
      const node = await startNode(t.options());
      await t.register({ worker: false });
      const workflow = WorkFlow.create('retry-processes')
        .addStep({ step: flagFile, tasks: [{ flag, value: 1 }, { flag: '', value: 2 }], options: { taskMaxFailCount: 1 } })
        .run();
      await workflow.started();
      const outcomes: string[] = [];
      const follower = fork(FOLLOW_TWICE, [JSON.stringify(t.options()), workflow.id], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      follower.on('message', (message: { type: string; status: string }) => outcomes.push(message.status));
      try {
        await expect(workflow.done()).rejects.toBeInstanceOf(WorkflowFailedError);
        await eventually(() => (outcomes.length === 1 ? true : undefined), 30_000);
        expect(outcomes).toEqual(['failed']);

        rmSync(flag);
        const handle = await DeFlow.retry(workflow.id);
        follower.send('again');
        expect((await handle.done()).steps[0]?.tasks.map((task) => task.result)).toEqual([1, 2]);
        await eventually(() => (outcomes.length === 2 ? true : undefined), 30_000);
        expect(outcomes).toEqual(['failed', 'succeeded']);
        const attempts = node.messages.filter((m) => m.type === 'flag-file').map((m) => [m.value, m.attempt]);
        expect(attempts.sort()).toEqual([
          [1, 1],
          [1, 1],
          [2, 1],
        ]);
      } finally {
        follower.disconnect();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
