/**
 * Several real processes sharing one SQLite file: they split the work, and when one is
 * killed with SIGKILL mid-task another finishes its work; every task ends with one result.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../src/index.js';
import echo from './fixtures/steps/echo.js';
import type { EchoResult } from './fixtures/steps/echo.js';
import slowBefore from './fixtures/steps/slow-before.js';
import localOnly from './fixtures/steps-private/local-only.js';
import { startNode, stopAllNodes } from './helpers/nodes.js';

const execFileAsync = promisify(execFile);
const WATCH_ONLY = fileURLToPath(new URL('./fixtures/watch-only.ts', import.meta.url));
const ENTRY_INLINE = fileURLToPath(new URL('./fixtures/entry-inline-step.ts', import.meta.url));

const dirs: string[] = [];
function freshBackend(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-procs-'));
  dirs.push(dir);
  return `sqlite:${join(dir, 'shared.db')}`;
}

afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('SQLite shared by several processes', () => {
  it('splits the tasks of a step between processes, each task processed once', async () => {
    const backend = freshBackend();
    const nodes = await Promise.all([startNode({ backend }), startNode({ backend })]);
    DeFlow.register({ backend, worker: false });
    const tasks = Array.from({ length: 60 }, (_, i) => ({ value: i, ms: 20 }));
    const result = await WorkFlow.create('shared').addStep({ step: echo, tasks, options: { taskConcurrency: 2 } }).run().done();
    const results = result.steps[0]?.tasks.map((task) => task.result as EchoResult) ?? [];
    expect(results.map((r) => r.value)).toEqual(tasks.map((task) => task.value));
    const byPid = new Map<number, number>();
    for (const r of results) byPid.set(r.pid, (byPid.get(r.pid) ?? 0) + 1);
    expect([...byPid.keys()].sort()).toEqual(nodes.map((node) => node.pid).sort());
    // No task ran twice: the processes announced 60 starts between them.
    const starts = nodes.flatMap((node) => node.messages.filter((m) => m.type === 'start').map((m) => m.value));
    expect(starts.sort((a, b) => Number(a) - Number(b))).toEqual(tasks.map((task) => task.value));
  });

  it('finishes the work of a process killed with SIGKILL mid-task', async () => {
    const backend = freshBackend();
    const options = { backend, leaseMs: 1_000, checkProcessQueueInterval: 200 };
    const [victim, survivor] = await Promise.all([startNode(options), startNode(options)]);
    DeFlow.register({ ...options, worker: false });
    const tasks = Array.from({ length: 40 }, (_, i) => ({ value: i, ms: 100 }));
    // Default taskMaxFailCount (1): a crash is not the tasks' fault, they still get another attempt.
    const workflow = WorkFlow.create('crash').addStep({ step: echo, tasks, options: { taskConcurrency: 2 } }).run();
    await victim?.waitFor((m) => m.type === 'start');
    const killedAt = Date.now();
    await victim?.kill('SIGKILL');
    const result = await workflow.done();
    const elapsed = Date.now() - killedAt;
    const results = result.steps[0]?.tasks ?? [];
    expect(results.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
    expect(results.every((task) => task.status === 'succeeded')).toBe(true);
    // The tasks the victim held were retried once, on the survivor.
    const recovered = results.filter((task) => task.failedCount === 1);
    expect(recovered.length).toBeGreaterThan(0);
    expect(recovered.every((task) => (task.result as EchoResult).pid === survivor?.pid)).toBe(true);
    // Recovery came within lease + check interval (plus the survivor's own share of work).
    expect(elapsed).toBeLessThan(15_000);
  });

  it('a node frozen past its lease starts none of its queued jobs when it wakes up', async () => {
    const backend = freshBackend();
    const options = { backend, leaseMs: 1_000, checkProcessQueueInterval: 200 };
    const [frozen, survivor] = await Promise.all([startNode(options), startNode(options)]);
    DeFlow.register({ ...options, worker: false });
    // Quick tasks, so each node claims several ahead of the one it runs.
    const tasks = Array.from({ length: 600 }, (_, i) => ({ value: i, ms: 1 }));
    const workflow = WorkFlow.create('frozen').addStep({ step: echo, tasks, options: { taskMaxFailCount: 3 } }).run();
    await frozen.waitFor((m) => m.type === 'start' && Number(m.value) > 20);
    frozen.child.kill('SIGSTOP');
    const result = await workflow.done(); // the survivor takes the frozen node's jobs back and finishes
    const seenBeforeWaking = frozen.messages.length;
    frozen.child.kill('SIGCONT');
    await frozen.waitFor((m) => m.type === 'problem' && /declared dead/.test(String(m.message)), 15_000);
    const startedAfterWaking = frozen.messages.slice(seenBeforeWaking).filter((m) => m.type === 'start');
    expect(startedAfterWaking).toEqual([]);
    expect(result.steps[0]?.tasks.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
    expect(result.steps[0]?.tasks.some((task) => (task.result as EchoResult).pid === survivor?.pid)).toBe(true);
  });

  it('recovers a step whose beforeAll was running in a killed process', async () => {
    const backend = freshBackend();
    const options = { backend, leaseMs: 1_000, checkProcessQueueInterval: 200 };
    const first = await startNode(options);
    DeFlow.register({ ...options, worker: false });
    const workflow = WorkFlow.create('crash-in-hook')
      .addStep({ step: slowBefore, data: { count: 5, ms: 2_000 }, options: { taskMaxFailCount: 2 } })
      .run();
    await first.waitFor((m) => m.type === 'beforeAll');
    await first.kill('SIGKILL');
    const second = await startNode(options);
    const result = await workflow.done();
    expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual([10, 20, 30, 40, 50]);
    expect(second.messages.some((m) => m.type === 'beforeAll')).toBe(true);
  });

  it('never lets a node claim work for a handler it cannot load', async () => {
    const backend = freshBackend();
    const other = await startNode({ backend });
    DeFlow.register({ backend });
    const tasks = Array.from({ length: 50 }, (_, i) => i + 1);
    const result = await WorkFlow.create('local-only').addStep({ step: localOnly, tasks }).run().done();
    // Every result was computed here (data * this pid), none by the node lacking the module.
    expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual(tasks.map((n) => n * process.pid));
    expect(other.messages.filter((m) => m.type === 'problem')).toEqual([]);
  });

  it('rejects ready() with a clear error when the database cannot be opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deflow-unwritable-'));
    dirs.push(dir);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    const deflow = DeFlow.register({ backend: `sqlite:${file}/deflow.db` });
    await expect(deflow.ready()).rejects.toThrow(/cannot open the SQLite database at .*a-file\/deflow.db: .*Check that the directory is writable/);
    await expect(WorkFlow.create('nowhere').addStep({ step: echo, tasks: [{ value: 1 }] }).run().done()).rejects.toMatchObject({ code: 'ERR_BACKEND' });
  });

  it('keeps a process that only awaits done() (worker: false) alive until the workflow ends', async () => {
    const backend = freshBackend();
    await startNode({ backend });
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', WATCH_ONLY, backend], { timeout: 60_000 });
    expect(JSON.parse(stdout)).toMatchObject({ status: 'succeeded' });
  });

  it("never imports a program's own script in another process to find its inline handlers", async () => {
    const backend = freshBackend();
    const other = await startNode({ backend });
    const marker = join(dirs.at(-1) ?? tmpdir(), 'evaluations.txt');
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', ENTRY_INLINE, backend, marker], { timeout: 60_000 });
    const program = Number(readFileSync(marker, 'utf8').trim());
    // Evaluated once, by the program itself, which ran every task of its inline step.
    expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(stdout)).toEqual(Array.from({ length: 30 }, () => program));
    expect(stderr).not.toMatch(/Warning/);
    expect(other.messages.filter((m) => m.type === 'problem')).toEqual([]);
  });

  it('delivers events to a handle in a process that runs no work', async () => {
    const backend = freshBackend();
    await startNode({ backend });
    DeFlow.register({ backend, worker: false });
    const workflow = WorkFlow.create('watched').addStep({ step: echo, tasks: [{ value: 1 }, { value: 2 }] }).run();
    const seen: unknown[] = [];
    workflow.on('nextTask', (next) => seen.push(next.data));
    const result = await workflow.done();
    expect(result.status).toBe('succeeded');
    expect(seen).toEqual([{ value: 1 }, { value: 2 }]);
  });
});
