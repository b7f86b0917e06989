/**
 * What a workflow handle reports (on the embedded backend): each finished step once, even when
 * its event comes twice, and a handle that begins to follow a running workflow does not report
 * the steps that had finished before. (Lost events across a restart: test/redis and
 * test/postgres handle-events.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../src/index.js';
import { eventually, sleep } from './conformance/context.js';
import { runCountedChain, within } from './helpers/handle-events.js';

const dirs: string[] = [];
afterEach(async () => {
  await DeFlow.unregister();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function register(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-handle-'));
  dirs.push(dir);
  await DeFlow.register({ backend: `sqlite:${join(dir, 'deflow.db')}` }).ready();
}

describe('workflow handle events', () => {
  it('reports a step once though its event comes twice', async () => {
    await register();
    const run = runCountedChain('twice', 2, 1_000);
    await eventually(() => (run.steps.has('1') ? true : undefined), 20_000);
    const { backend } = await DeFlow.getInstance().services();
    await backend.publish([{ type: 'step', workflowId: run.workflow.id, stepId: '1', status: 'succeeded' }]);
    await within(run.workflow.done(), 30_000, 'done()');
    await sleep(200);
    expect(Object.fromEntries(run.steps)).toEqual({ 1: 1, 2: 1 });
    expect(run.done()).toBe(1);
  }, 40_000);

  it('a handle that begins to follow a running workflow reports only the steps that finish afterwards', async () => {
    await register();
    const run = runCountedChain('late', 2, 1_000);
    await eventually(() => (run.steps.has('1') ? true : undefined), 20_000);
    const late = await WorkFlow.getById(run.workflow.id);
    if (late === null) throw new Error('the workflow is not stored');
    const seen: string[] = [];
    late.on('step', (step) => seen.push(step.stepId));
    await within(late.done(), 30_000, 'done()');
    await sleep(200);
    expect(seen).toEqual(['2']);
  }, 40_000);
});
