/**
 * A signal sent from one process wakes a step waiting in a workflow whose work runs in
 * another: the receiving call starts the step and its work event reaches the idle node.
 */
import { describe, expect, it } from 'vitest';
import { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';
import { startNode } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';
import { echoResults } from './process-tools.js';

export function processEvents(t: Conformance): void {
  describe('Events across processes', () => {
    it('a signal from another process wakes the waiting step on an idle node', async () => {
      const node = await startNode(t.options());
      await t.register({ worker: false });
      const workflow = WorkFlow.create('cross-signal')
        .addStep({ name: 'wait', step: echo, tasks: [{ value: 1 }], dependsOn: [], waitFor: ['approved'] })
        .run();
      await workflow.started();
      await eventually(async () => {
        const [step] = await workflow.getSteps();
        return step?.status === 'waiting' ? true : undefined;
      });
      expect(await workflow.signal('approved', { by: 'ops' })).toBe(true);
      const result = await workflow.done();
      expect(echoResults(result).map((r) => r.pid)).toEqual([node.pid]);
    });
  });
}
