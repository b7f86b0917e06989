/** `deflow cancel | pause | resume`, and how ls / show name the states, run as a user runs them. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import type { CliRun } from './helpers/cli.js';


const cliEcho = new StepHandler<unknown, number, number>({ name: 'cli-control-echo', handler: (task) => task.data });

const dirs: string[] = [];
afterEach(async () => {
  await DeFlow.unregister();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function deflow(args: string[], cwd: string): Promise<CliRun> {
  return runCli(args, cwd);
}

/** A workflow stored in a fresh SQLite file that no node runs. */
async function storedWorkflow(): Promise<{ cwd: string; backend: string; id: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'deflow-cli-control-'));
  dirs.push(cwd);
  const backend = `sqlite:${join(cwd, 'control.db')}`;
  DeFlow.register({ backend, worker: false });
  const workflow = WorkFlow.create('controlled').addStep({ name: 'numbers', step: cliEcho, tasks: [1, 2] }).run();
  await workflow.started();
  await DeFlow.unregister();
  return { cwd, backend, id: workflow.id };
}

describe('deflow cancel, pause, resume', () => {
  it('pauses, resumes and cancels a workflow by id, and says when nothing changes (exit 1)', async () => {
    const { cwd, backend, id } = await storedWorkflow();
    const pause = await deflow(['pause', id, '-b', backend], cwd);
    expect(pause).toMatchObject({ code: 0, stdout: `paused workflow ${id}\n` });
    expect((await deflow(['ls', '-b', backend], cwd)).stdout).toMatch(/│ paused\s+│/);
    expect((await deflow(['ls', '--status', 'paused', '-b', backend], cwd)).stdout).toContain(id);
    const again = await deflow(['pause', id, '-b', backend], cwd);
    expect(again).toMatchObject({ code: 1, stderr: `workflow ${id} is paused: pause changes nothing\n` });

    expect(await deflow(['resume', id, '-b', backend], cwd)).toMatchObject({ code: 0, stdout: `resumed workflow ${id}\n` });
    const cancel = await deflow(['cancel', id, '--reason', 'not needed any more', '-b', backend], cwd);
    expect(cancel).toMatchObject({ code: 0, stdout: `cancelled workflow ${id}\n` });
    const show = await deflow(['show', id, '-b', backend], cwd);
    expect(show.stdout).toMatch(/status\s+cancelled/);
    expect(show.stdout).toContain(`error    workflow ${id} was cancelled: not needed any more`);
    expect((await deflow(['ls', '-b', backend], cwd)).stdout).toMatch(/│ cancelled\s+│/);

    expect(await deflow(['cancel', id, '-b', backend], cwd)).toMatchObject({ code: 1, stderr: `workflow ${id} is cancelled: cancel changes nothing\n` });
    expect(await deflow(['resume', id, '-b', backend], cwd)).toMatchObject({ code: 1, stderr: `workflow ${id} is cancelled: resume changes nothing\n` });
    const unknown = await deflow(['cancel', 'no-such-id', '-b', backend], cwd);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('deflow: deflow cancel: workflow no-such-id does not exist (it was removed, or never started); nothing to cancel [ERR_NOT_FOUND]\n');
  }, 180_000); // a dozen commands, each starting tsx

  it('shows a running workflow that no live node runs as "running (no live node)"', async () => {
    const { cwd, backend, id } = await storedWorkflow();
    expect((await deflow(['ls', '-b', backend], cwd)).stdout).toMatch(/│ running \(no live node\)\s+│/);
    expect((await deflow(['show', id, '-b', backend], cwd)).stdout).toMatch(/status\s+running \(no live node\)\n/);

    // A node with a live lease (it runs nothing here, but it could): plain running.
    DeFlow.register({ backend, worker: false });
    const { backend: store } = await DeFlow.getInstance().services();
    await store.registerNode({ id: 'alive', host: 'test', pid: 1, handlers: [], leaseMs: 600_000 });
    await DeFlow.unregister();
    expect((await deflow(['ls', '-b', backend], cwd)).stdout).toMatch(/│ running\s+│/);
    expect((await deflow(['show', id, '-b', backend], cwd)).stdout).toMatch(/status\s+running\n/);
  }, 120_000);

  it('refuses a missing database instead of creating one', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'deflow-cli-control-'));
    dirs.push(cwd);
    const run = await deflow(['cancel', 'x', '-b', `sqlite:${join(cwd, 'typo.db')}`], cwd);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no deflow database at');
  });
});
