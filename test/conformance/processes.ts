/**
 * Real node processes sharing one store: they split the work; one killed with SIGKILL or frozen
 * with SIGSTOP loses its work to the others, and every task still ends with one result. A dead
 * node's lease is ended in the store (BackendUnderTest.expireNode) rather than waited for,
 * except where the time to recovery is what the test measures.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow, WorkflowFailedError } from '../../src/index.js';
import type { TaskRecord } from '../../src/backends/backend.js';
import echo from '../fixtures/steps/echo.js';
import poison from '../fixtures/steps/poison.js';
import slowBefore from '../fixtures/steps/slow-before.js';
import localOnly from '../fixtures/steps-private/local-only.js';
import { startNode } from '../helpers/nodes.js';
import type { NodeProcess } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';
import { echoResults, expectStoredOnce, expireLease, nodeIdOf, starts } from './process-tools.js';

const execFileAsync = promisify(execFile);
const WATCH_ONLY = fileURLToPath(new URL('../fixtures/watch-only.ts', import.meta.url));
const ENTRY_INLINE = fileURLToPath(new URL('../fixtures/entry-inline-step.ts', import.meta.url));

const declaredDead = (m: { type: string; message?: unknown }): boolean => m.type === 'problem' && /declared dead/.test(String(m.message));

/**
 * A node to freeze: it stalls after the handler of its `hit`-th task returned (the
 * handler:before-complete fault point), and the test stops it there with SIGSTOP. A SIGSTOP at a
 * random instant could land inside a write transaction, and a stopped SQLite process holding the
 * write lock stalls every other process; at this point it holds none. The stall outlasts the
 * moment the test needs to notice it; after SIGCONT the node sleeps out what is left of it.
 */
const FREEZE_STALL_MS = 5_000;
function freezable(hit: number): { faults: string } {
  return { faults: `handler:before-complete=stall:${FREEZE_STALL_MS}@${hit}` };
}
async function freeze(node: NodeProcess): Promise<void> {
  await eventually(() => (node.stderr().includes('deflow fault point handler:before-complete: stall') ? true : undefined), 30_000, 5);
  process.kill(node.pid, 'SIGSTOP');
}

export function processes(t: Conformance): void {
  describe('Processes', () => {
    it('splits the tasks of a step between processes, each task processed once', async () => {
      const nodes = await Promise.all([startNode(t.options()), startNode(t.options())]);
      await t.register({ worker: false });
      const tasks = Array.from({ length: 60 }, (_, i) => ({ value: i, ms: 20 }));
      const result = await WorkFlow.create('shared').addStep({ step: echo, tasks, options: { taskConcurrency: 2 } }).run().done();
      const results = echoResults(result);
      expect(results.map((r) => r.value)).toEqual(tasks.map((task) => task.value));
      const byPid = new Map<number, number>();
      for (const r of results) byPid.set(r.pid, (byPid.get(r.pid) ?? 0) + 1);
      expect([...byPid.keys()].sort()).toEqual(nodes.map((node) => node.pid).sort());
      // No task ran twice: the processes announced 60 starts between them.
      expect(starts(nodes).sort((a, b) => a - b)).toEqual(tasks.map((task) => task.value));
    });

    it('finishes a 2,000-task step after SIGKILL of one of three nodes, within lease + watchdog interval, one result per task', async () => {
      const leaseMs = 1_500;
      const interval = 250;
      const options = { ...t.options(), leaseMs, checkProcessQueueInterval: interval };
      const [victim, ...survivors] = await Promise.all([startNode(options), startNode(options), startNode(options)]);
      if (victim === undefined) throw new Error('no victim');
      await t.register({ leaseMs, checkProcessQueueInterval: interval, worker: false });
      const tasks = Array.from({ length: 2_000 }, (_, i) => ({ value: i, ms: 2 }));
      const workflow = WorkFlow.create('kill').addStep({ step: echo, tasks, options: { taskConcurrency: 4, taskMaxFailCount: 3 } }).run();
      let firstRetryAt: number | null = null;
      for (const node of survivors) {
        node.child.on('message', (m: { type: string; lost?: number }) => {
          if (m.type === 'start' && m.lost === 1) firstRetryAt ??= Date.now();
        });
      }
      // Killed once it is well into its share; its lease runs out by itself here (measured).
      await victim.waitFor(() => victim.messages.filter((m) => m.type === 'start').length >= 100);
      const killedAt = Date.now();
      await victim.kill('SIGKILL');
      const result = await workflow.done();

      // Every task ended once, succeeded, with its own value.
      const recorded = result.steps[0]?.tasks ?? [];
      expect(result.status).toBe('succeeded');
      expect(recorded).toHaveLength(2_000);
      expect(echoResults(result).map((r) => r.value)).toEqual(tasks.map((task) => task.value));
      expect(recorded.every((task) => task.status === 'succeeded')).toBe(true);
      expect(result.steps[0]?.progress).toMatchObject({ done: 2_000, failed: 0, total: 2_000 });
      await expectStoredOnce(t, 2_000);
      // What the victim held was lost once and run again on a survivor, no attempt failed.
      const retried = recorded.filter((task) => task.lostCount > 0);
      expect(retried.length).toBeGreaterThan(0);
      expect(retried.every((task) => task.lostCount === 1 && task.failedCount === 0)).toBe(true);
      const survivorPids = new Set(survivors.map((node) => node.pid));
      expect(retried.every((task) => survivorPids.has((task.result as { pid: number }).pid))).toBe(true);
      // Their handlers saw the loss: the same first attempt, lost once.
      const reruns = survivors.flatMap((node) => node.messages.filter((m) => m.type === 'start' && m.lost === 1));
      expect(reruns).toHaveLength(retried.length);
      expect(reruns.every((m) => m.attempt === 1)).toBe(true);
      expect(new Set(starts([victim, ...survivors]))).toEqual(new Set(tasks.map((task) => task.value)));
      // Recovery came within lease + watchdog interval of the kill (its last heartbeat was even
      // earlier); the rest is slack for a loaded two-core machine.
      expect(firstRetryAt).not.toBeNull();
      expect((firstRetryAt ?? Infinity) - killedAt).toBeLessThan(leaseMs + interval + 5_000);
    }, 90_000);

    it('runs again what a killed node held (lost once, ERR_NODE_LOST) with the default taskMaxFailCount (1), and fails no task', async () => {
      // Nobody runs the watchdog (interval 0): this process recovers the victim's jobs itself,
      // so it can read them while they wait out their retry delay.
      const options = { ...t.options(), leaseMs: 1_000, checkProcessQueueInterval: 0 };
      await t.register({ leaseMs: 1_000, checkProcessQueueInterval: 0, worker: false });
      const [victim, ...survivors] = await Promise.all([startNode(options), startNode(options), startNode(options)]);
      if (victim === undefined) throw new Error('no victim');
      const victimId = await nodeIdOf(victim);
      const tasks = Array.from({ length: 300 }, (_, i) => ({ value: i, ms: 20 }));
      // Long enough to read the recovered tasks before a survivor retries them.
      const workflow = WorkFlow.create('node-loss').addStep({ step: echo, tasks, options: { taskConcurrency: 4, taskFailRetryDelay: 5_000 } }).run();
      const done = workflow.done();
      done.catch(() => undefined);
      await victim.waitFor(() => victim.messages.filter((m) => m.type === 'start').length >= 20);
      await victim.kill('SIGKILL');
      await expireLease(t, victimId);
      const { backend } = await DeFlow.getInstance().services();
      const { recovered } = await backend.recoverExpired(10_000);
      expect(recovered).toBeGreaterThan(0);

      // Right after recovery: each lost job counts one node loss (no failed attempt) and waits for its retry.
      const lost: TaskRecord[] = [];
      for (let afterSeq = 0; ; ) {
        const page = await backend.getTasks(workflow.id, '1', { afterSeq, limit: 1_000 });
        if (page.length === 0) break;
        lost.push(...page.filter((task) => task.lostCount > 0));
        afterSeq = page[page.length - 1]?.seq ?? afterSeq;
      }
      expect(lost).toHaveLength(recovered);
      for (const task of lost) {
        expect(task).toMatchObject({ status: 'ready', failedCount: 0, lostCount: 1, error: { code: 'ERR_NODE_LOST', lostCount: 1, maxNodeLosses: 3 } });
      }
      expect((await backend.getWorkflow(workflow.id))?.status).toBe('running');

      const result = await done;
      const recorded = result.steps[0]?.tasks ?? [];
      // One final result per task, all succeeded; the lost ones on a survivor.
      expect(result.status).toBe('succeeded');
      expect(echoResults(result).map((r) => r.value)).toEqual(tasks.map((task) => task.value));
      expect(recorded.every((task) => task.status === 'succeeded')).toBe(true);
      expect(result.steps[0]?.progress).toMatchObject({ done: 300, failed: 0, total: 300 });
      await expectStoredOnce(t, 300);
      const retried = recorded.filter((task) => task.lostCount > 0);
      expect(retried.map((task) => task.id).sort()).toEqual(lost.map((task) => task.id).sort());
      expect(retried.every((task) => task.lostCount === 1 && task.failedCount === 0)).toBe(true);
      const survivorPids = new Set(survivors.map((node) => node.pid));
      expect(retried.every((task) => survivorPids.has((task.result as { pid: number }).pid))).toBe(true);
    }, 90_000);

    it('fails a task that kills its process on every attempt after maxNodeLosses losses, while other work goes on', async () => {
      const options = { ...t.options(), leaseMs: 1_000, checkProcessQueueInterval: 200 };
      const nodes = await Promise.all([startNode(options), startNode(options), startNode(options)]);
      await t.register({ leaseMs: 1_000, worker: false });
      // Other work, running through the crashes: tasks lost with a node run again elsewhere.
      const tasks = Array.from({ length: 150 }, (_, i) => ({ value: i, ms: 20 }));
      const other = WorkFlow.create('bystander').addStep({ step: echo, tasks, options: { taskConcurrency: 2 } }).run();
      await Promise.all(nodes.map((node) => node.waitFor((m) => m.type === 'start')));
      // Each attempt of the poison task kills the node running it: two nodes die, no more.
      const poisoned = WorkFlow.create('poisoned').addStep({ name: 'poison', step: poison, tasks: [1], options: { maxNodeLosses: 2 } }).run();
      const failure = await poisoned.done().then(
        () => null,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const result = (failure as WorkflowFailedError).result;
      expect(result.status).toBe('failed');
      const task = result.steps[0]?.tasks[0];
      expect(task).toMatchObject({ status: 'failed', failedCount: 0, lostCount: 2 });
      expect(task?.error).toMatchObject({ code: 'ERR_NODE_LOST', lostCount: 2, maxNodeLosses: 2 });
      expect(result.error?.message).toMatch(/task 1 of step "poison" was lost with its node 2 times \(maxNodeLosses: 2\)/);
      const dead = nodes.filter((node) => node.child.signalCode === 'SIGKILL');
      expect(dead).toHaveLength(2);
      // The third node is alive and finishes the other work, where no task failed.
      const bystander = await other.done();
      expect(echoResults(bystander).map((r) => r.value)).toEqual(tasks.map((one) => one.value));
      expect(bystander.steps[0]?.tasks.every((one) => one.status === 'succeeded' && one.failedCount === 0)).toBe(true);
      const alive = nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);
      expect(alive).toHaveLength(1);
      expect(echoResults(bystander).some((r) => r.pid === alive[0]?.pid)).toBe(true);
    }, 90_000);

    it('finishes the tasks a node was running when killed, on the survivor', async () => {
      const options = { ...t.options(), leaseMs: 1_000, checkProcessQueueInterval: 200 };
      const [victim, survivor] = await Promise.all([startNode(options), startNode(options)]);
      await t.register({ leaseMs: 1_000, worker: false });
      const victimId = await nodeIdOf(victim);
      const tasks = Array.from({ length: 40 }, (_, i) => ({ value: i, ms: 100 }));
      // Default taskMaxFailCount (1): a node loss is not a failed attempt, the tasks run again.
      const workflow = WorkFlow.create('crash').addStep({ step: echo, tasks, options: { taskConcurrency: 2 } }).run();
      await victim.waitFor((m) => m.type === 'start');
      await victim.kill('SIGKILL');
      await expireLease(t, victimId);
      const result = await workflow.done();
      const recorded = result.steps[0]?.tasks ?? [];
      expect(echoResults(result).map((r) => r.value)).toEqual(tasks.map((task) => task.value));
      expect(recorded.every((task) => task.status === 'succeeded')).toBe(true);
      // The tasks the victim held were lost once and ran again on the survivor.
      const recovered = recorded.filter((task) => task.lostCount === 1 && task.failedCount === 0);
      expect(recovered.length).toBeGreaterThan(0);
      expect(recovered.every((task) => (task.result as { pid: number }).pid === survivor?.pid)).toBe(true);
      await expectStoredOnce(t, 40);
    });

    it('a node frozen past its lease starts none of its queued jobs when it wakes up, and rejoins', async () => {
      const options = { ...t.options(), leaseMs: 1_000, checkProcessQueueInterval: 200 };
      const [frozen, survivor] = await Promise.all([startNode(options, freezable(21)), startNode(options)]);
      await t.register({ leaseMs: 1_000, worker: false });
      const frozenId = await nodeIdOf(frozen);
      // Quick tasks, so each node claims several ahead of the one it runs.
      const tasks = Array.from({ length: 600 }, (_, i) => ({ value: i, ms: 1 }));
      const workflow = WorkFlow.create('frozen').addStep({ step: echo, tasks, options: { taskMaxFailCount: 3 } }).run();
      // Its lease is left to run out in real time (not ended in the store): what is tested is
      // that the node's own clock tells it, on waking, that its lease is gone.
      await freeze(frozen);
      const result = await workflow.done(); // the survivor takes the frozen node's jobs back and finishes
      const seenBeforeWaking = frozen.messages.length;
      frozen.child.kill('SIGCONT');
      await frozen.waitFor(declaredDead, 30_000);
      const startedAfterWaking = frozen.messages.slice(seenBeforeWaking).filter((m) => m.type === 'start');
      expect(startedAfterWaking).toEqual([]);
      expect(result.status).toBe('succeeded');
      expect(echoResults(result).map((r) => r.value)).toEqual(tasks.map((task) => task.value));
      expect(echoResults(result).some((r) => r.pid === survivor?.pid)).toBe(true);
      await expectStoredOnce(t, 600);
      // It registered again under the same id.
      const { backend } = await DeFlow.getInstance().services();
      await eventually(async () => ((await backend.listNodes()).some((node) => node.id === frozenId) ? true : undefined));
    }, 90_000);

    it('declares a frozen node dead within lease + watchdog interval, moves its work, and takes it back when it wakes', async () => {
      const leaseMs = 1_000;
      const interval = 200;
      const options = { ...t.options(), leaseMs, checkProcessQueueInterval: interval };
      const [sleeper, survivor] = await Promise.all([startNode(options, freezable(2)), startNode(options)]);
      await t.register({ leaseMs, checkProcessQueueInterval: interval, worker: false });
      const { backend } = await DeFlow.getInstance().services();
      const tasks = Array.from({ length: 40 }, (_, i) => ({ value: i, ms: 150 }));
      const workflow = WorkFlow.create('freeze').addStep({ step: echo, tasks, options: { taskConcurrency: 2, taskMaxFailCount: 3 } }).run();
      await survivor.waitFor((m) => m.type === 'start');
      const sleeperId = await nodeIdOf(sleeper);

      // Its lease runs out by itself here: the time to being declared dead is what is measured.
      await freeze(sleeper);
      const frozenAt = Date.now();
      await eventually(async () => ((await backend.listNodes()).some((node) => node.id === sleeperId) ? undefined : true), 30_000, 20);
      const declaredAfter = Date.now() - frozenAt;
      // Its lease ran out (up to leaseMs after its last heartbeat, which is at most leaseMs/3 old),
      // then the next watchdog round removed it; the upper bound is slack for a loaded machine,
      // the lower one allows for the moments between its stall and this process stopping it.
      expect(declaredAfter).toBeGreaterThanOrEqual(leaseMs * (2 / 3) - 300);
      expect(declaredAfter).toBeLessThan(leaseMs + interval + 5_000);
      // Its work moves: the survivor runs again (lost once) tasks the sleeper had started.
      const heldBySleeper = new Set(starts([sleeper]));
      await survivor.waitFor((m) => m.type === 'start' && m.lost === 1 && heldBySleeper.has(Number(m.value)), 30_000);

      process.kill(sleeper.pid, 'SIGCONT');
      // It learns it was declared dead (a heartbeat answers alive: false) and registers again.
      await sleeper.waitFor(declaredDead, 30_000);
      const result = await workflow.done();
      expect(result.status).toBe('succeeded');
      expect(echoResults(result).map((r) => r.value)).toEqual(tasks.map((task) => task.value));
      await expectStoredOnce(t, tasks.length);
      await eventually(async () => ((await backend.listNodes()).some((node) => node.id === sleeperId) ? true : undefined));
    }, 90_000);

    it('never takes a slow task from a node that keeps heartbeating', async () => {
      const options = { ...t.options(), leaseMs: 1_000, checkProcessQueueInterval: 100 };
      const nodes = await Promise.all([startNode(options), startNode(options)]);
      await t.register({ leaseMs: 1_000, checkProcessQueueInterval: 100, worker: false });
      // Three leases long, with a watchdog running every 100 ms on both nodes.
      const result = await WorkFlow.create('slow')
        .addStep({ step: echo, tasks: [{ value: 1, ms: 3_000 }], options: { taskMaxFailCount: 3 } })
        .run()
        .done();
      expect(result.steps[0]?.tasks[0]).toMatchObject({ status: 'succeeded', failedCount: 0 });
      expect(starts(nodes)).toEqual([1]);
    });

    it('recovers a step whose beforeAll was running in a killed process', async () => {
      const options = { ...t.options(), leaseMs: 1_000, checkProcessQueueInterval: 200 };
      const first = await startNode(options);
      await t.register({ leaseMs: 1_000, worker: false });
      const firstId = await nodeIdOf(first);
      const workflow = WorkFlow.create('crash-in-hook')
        .addStep({ step: slowBefore, data: { count: 5, ms: 2_000 }, options: { taskMaxFailCount: 2 } })
        .run();
      await first.waitFor((m) => m.type === 'beforeAll');
      await first.kill('SIGKILL');
      await expireLease(t, firstId);
      const second = await startNode(options);
      const result = await workflow.done();
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual([10, 20, 30, 40, 50]);
      expect(second.messages.some((m) => m.type === 'beforeAll')).toBe(true);
    });

    it('never lets a node claim work for a handler it cannot load', async () => {
      const other = await startNode(t.options());
      await t.register();
      const tasks = Array.from({ length: 50 }, (_, i) => i + 1);
      const result = await WorkFlow.create('local-only').addStep({ step: localOnly, tasks }).run().done();
      // Every result was computed here (data * this pid), none by the node lacking the module.
      expect(result.steps[0]?.tasks.map((task) => task.result)).toEqual(tasks.map((n) => n * process.pid));
      // The node may look at the step (it does not know the handler's name, so it imports the
      // module): then it says once that it cannot load it and leaves the step (docs/api.md).
      for (const problem of other.messages.filter((m) => m.type === 'problem')) {
        expect(problem).toMatchObject({ during: 'load', message: expect.stringMatching(/cannot run step "fixture-local-only" .*it leaves the step to other nodes/) as unknown });
      }
    });

    it('keeps a process that only awaits done() (worker: false) alive until the workflow ends', async () => {
      await startNode(t.options());
      const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', WATCH_ONLY, JSON.stringify(t.options())], { timeout: 60_000 });
      expect(JSON.parse(stdout)).toMatchObject({ status: 'succeeded' });
    });

    it("never imports a program's own script in another process to find its inline handlers", async () => {
      const other = await startNode(t.options());
      const dir = mkdtempSync(join(tmpdir(), 'deflow-inline-'));
      try {
        const marker = join(dir, 'evaluations.txt');
        const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', ENTRY_INLINE, JSON.stringify(t.options()), marker], {
          timeout: 60_000,
        });
        const program = Number(readFileSync(marker, 'utf8').trim());
        // Evaluated once, by the program itself, which ran every task of its inline step.
        expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(1);
        expect(JSON.parse(stdout)).toEqual(Array.from({ length: 30 }, () => program));
        expect(stderr).not.toMatch(/Warning/);
        expect(other.messages.filter((m) => m.type === 'problem')).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('delivers events to a handle in a process that runs no work', async () => {
      await startNode(t.options());
      await t.register({ worker: false });
      const workflow = WorkFlow.create('watched').addStep({ step: echo, tasks: [{ value: 1 }, { value: 2 }] }).run();
      const seen: unknown[] = [];
      workflow.on('nextTask', (next) => seen.push(next.data));
      const result = await workflow.done();
      expect(result.status).toBe('succeeded');
      expect(seen).toEqual([{ value: 1 }, { value: 2 }]);
    });
  });
}
