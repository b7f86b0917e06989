/**
 * Stored state never runs code: a step record names the module a node imports to find the
 * step's handler, and anyone who can write the backend can write that name. A node refuses a
 * module it may not import (src/engine/module-policy.ts): it fails the step with a
 * StepModuleError and keeps working (docs/api.md#step-modules).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { Conformance } from './context.js';

const echo = new StepHandler<unknown, number, number>({ name: 'stored-code-echo', handler: (task) => task.data });

export function storedCode(t: Conformance): void {
  describe('stored state never runs code', () => {
    const dirs: string[] = [];
    afterEach(() => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    it('never imports a data: URL written into a step record: fails that step, and runs the rest', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'deflow-stored-code-'));
      dirs.push(dir);
      const marker = join(dir, 'imported');
      const code = `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, 'ran');`;
      const planted = { key: 'stored-code-planted', module: `data:text/javascript,${encodeURIComponent(code)}`, hasBeforeAll: false, hasAfterAll: false };

      // Stored by a process that runs no work, then rewritten in the store.
      await t.register({ worker: false });
      const victim = await WorkFlow.create('stored-code-victim').addStep({ step: echo, tasks: [1, 2] }).run().started();
      const [step] = await victim.getSteps();
      await t.backend.corruptRecord(t.options(), { workflowId: victim.id, stepId: step?.id ?? '', field: 'handler', value: JSON.stringify(planted) });
      await DeFlow.unregister();

      await t.register(); // a worker
      const other = await WorkFlow.create('stored-code-other').addStep({ step: echo, tasks: [3] }).run().done();
      expect(other.steps[0]?.tasks[0]?.result).toBe(3);
      const failure = await (await WorkFlow.getById(victim.id))?.done().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const tasks = (failure as WorkflowFailedError).result.steps[0]?.tasks ?? [];
      expect(tasks.map((task) => task.status)).toEqual(['failed', 'failed']);
      expect(tasks[0]?.failedCount).toBe(1);
      expect(tasks[0]?.error).toMatchObject({
        name: 'StepModuleError',
        code: 'ERR_STEP_MODULE',
        message: expect.stringMatching(
          /refuses to import the step module of StepHandler "stored-code-planted": the module "data:text\/javascript,[^"]*"\.\.\. \(\d+ characters\) uses the "data:" scheme; .* \(this node's step directories: \//,
        ) as unknown,
      });
      expect(existsSync(marker)).toBe(false);
    });
  });
}
