/**
 * `deflow retry` on SQLite: the command stores the retry (it runs no work itself), the nodes of
 * another process pick it up, and bad flags or a workflow it cannot retry are refused, saying why.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'deflow-retry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => DeFlow.unregister());

function deflow(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, MAIN, ...args], { cwd: dir, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

const broken = new Set<string>();
const calls: string[] = [];
const flaky = new StepHandler<unknown, string, string>({
  name: 'cli-retry-flaky',
  handler(task) {
    calls.push(task.data);
    if (broken.has(task.data)) throw new Error(`${task.data} is broken`);
    return task.data;
  },
});

async function failedWorkflow(file: string): Promise<WorkFlow> {
  await DeFlow.register({ backend: `sqlite:${file}` }).ready();
  broken.add('b');
  broken.add('y');
  const workflow = WorkFlow.create('cli-retry')
    .addStep({ name: 'first', step: flaky, tasks: ['a', 'b'], options: { taskMaxFailCount: 1 }, dependsOn: [] })
    .addStep({ name: 'other', step: flaky, tasks: ['y'], options: { taskMaxFailCount: 1 }, dependsOn: [] })
    .run();
  await expect(workflow.done()).rejects.toMatchObject({ code: 'ERR_WORKFLOW_FAILED' });
  broken.clear();
  return workflow;
}

describe('deflow retry', () => {
  it('retries one step with --step --failed-only, then the rest, and nodes elsewhere run it', async () => {
    const file = join(dir, 'steps.db');
    const workflow = await failedWorkflow(file);
    calls.length = 0;
    const only = await deflow(['retry', workflow.id, '--step', 'first', '--failed-only', '--backend', `sqlite:${file}`]);
    expect(only.stderr).toBe('');
    expect(only.code).toBe(0);
    expect(only.stdout).toBe(`retried workflow cli-retry (${workflow.id}), retry #1: follow it with deflow show ${workflow.id}\n`);
    await expect(workflow.done()).rejects.toMatchObject({ code: 'ERR_WORKFLOW_FAILED' }); // "other" still failed
    expect(calls).toEqual(['b']);

    const rest = await deflow(['retry', workflow.id, '--backend', `sqlite:${file}`]);
    expect(rest.code).toBe(0);
    expect((await workflow.done()).status).toBe('succeeded');
    expect(calls).toEqual(['b', 'y']);
  }, 60_000);

  it('refuses bad flags, unknown steps and ids, and a workflow that succeeded, saying what to do', async () => {
    const file = join(dir, 'refusals.db');
    const workflow = await failedWorkflow(file);
    const backend = ['--backend', `sqlite:${file}`];
    const bare = await deflow(['retry', workflow.id, '--step', 'first', ...backend]);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('--step first needs --failed-only (retry only its failed tasks); to run it again from scratch, use --from first');
    const unknown = await deflow(['retry', workflow.id, '--from', 'nope', ...backend]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`has no step named "nope" (option from); its steps are: "first", "other"`);
    const missing = await deflow(['retry', 'no-such-id', ...backend]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot retry workflow no-such-id: it does not exist');
    expect((await deflow(['retry', workflow.id, ...backend])).code).toBe(0);
    expect((await workflow.done()).status).toBe('succeeded');
    const again = await deflow(['retry', workflow.id, ...backend]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`cannot retry workflow ${workflow.id}: it succeeded, nothing failed. To run a step and the steps after it again, pass from: '<step name>'. [ERR_NOT_RETRYABLE]`);
  }, 60_000);
});
