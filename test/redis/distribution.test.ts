/**
 * Real node processes sharing workflows through Redis (the original DeFlow's distribution
 * scenarios): tasks split between 2, 4 and 10 nodes with no task processed twice, nextTask
 * counted exactly, concurrent workflows each ending once, a creator that crashes, and two
 * prefixes on one server that do not see each other's work.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';
import type { EchoResult } from '../fixtures/steps/echo.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import type { NodeProcess } from '../helpers/nodes.js';
import { REDIS_URL, deletePrefix, randomPrefix } from '../helpers/redis.js';
import { killAllChildren, killChild, startCreator } from './processes.js';

const filePrefix = randomPrefix('dist');
let prefixes: string[] = [];
let current = '';

beforeEach(() => {
  current = `${filePrefix}-${prefixes.length}`;
  prefixes.push(current);
});

afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
  await killAllChildren();
  for (const prefix of prefixes) await deletePrefix(prefix);
  prefixes = [];
});

function options(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { backend: REDIS_URL, prefix: current, leaseMs: 1_500, checkProcessQueueInterval: 200, ...extra };
}

function startsOf(nodes: readonly NodeProcess[]): number[] {
  return nodes.flatMap((node) => node.messages.filter((m) => m.type === 'start').map((m) => Number(m.value)));
}

/** Resolves once an event published now came back: everything published before it was delivered. */
async function drainEvents(): Promise<void> {
  const { backend } = await DeFlow.getInstance().services();
  await new Promise<void>((resolve) => {
    const stop = backend.subscribe((event) => {
      if (event.type === 'wake') {
        stop();
        resolve();
      }
    });
    void backend.publish([{ type: 'wake' }]);
  });
}

describe('Redis shared by several node processes', () => {
  it.each([2, 4, 10])('splits one step between %i nodes, each task processed once, nextTask counted exactly', async (count) => {
    const nodes = await Promise.all(Array.from({ length: count }, () => startNode(options())));
    await DeFlow.register(options({ worker: false })).ready();
    const tasks = Array.from({ length: count * 8 }, (_, i) => ({ value: i, ms: 60 }));
    const workflow = WorkFlow.create('shared').addStep({ step: echo, tasks, options: { taskConcurrency: 1 } }).run();
    let nextTasks = 0;
    workflow.on('nextTask', () => nextTasks++);
    const result = await workflow.done();
    const results = result.steps[0]?.tasks.map((task) => task.result as EchoResult) ?? [];
    expect(results.map((r) => r.value)).toEqual(tasks.map((task) => task.value));
    // Every node took part, and the nodes announced exactly one start per task between them.
    expect(new Set(results.map((r) => r.pid))).toEqual(new Set(nodes.map((node) => node.pid)));
    expect(startsOf(nodes).sort((a, b) => a - b)).toEqual(tasks.map((task) => task.value));
    await drainEvents();
    expect(nextTasks).toBe(tasks.length);
  });

  it('runs three workflows at once; each emits done exactly once', async () => {
    await Promise.all([startNode(options()), startNode(options()), startNode(options())]);
    await DeFlow.register(options({ worker: false })).ready();
    const done = new Map<string, number>();
    const workflows = [1, 2, 3].map((k) => {
      const tasks = Array.from({ length: 30 }, (_, i) => ({ value: k * 100 + i, ms: 10 }));
      const workflow = WorkFlow.create(`concurrent-${k}`)
        .addStep({ step: echo, tasks, options: { taskConcurrency: 3 } })
        .addStep({ step: echo, tasks: [{ value: k }] })
        .run();
      workflow.on('done', () => done.set(workflow.id, (done.get(workflow.id) ?? 0) + 1));
      return workflow;
    });
    const results = await Promise.all(workflows.map((workflow) => workflow.done()));
    expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    await drainEvents();
    expect([...done.values()]).toEqual([1, 1, 1]);
  });

  it('finishes a workflow whose creating process crashed (SIGKILL) while running its tasks', async () => {
    const workers = await Promise.all([startNode(options()), startNode(options())]);
    const tasks = Array.from({ length: 60 }, (_, i) => ({ value: i, ms: 40 }));
    const { child, workflowId } = await startCreator(options(), tasks);
    await new Promise<void>((resolve) => {
      const onMessage = (m: { type: string }): void => {
        if (m.type !== 'start') return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
    });
    await killChild(child);
    await DeFlow.register(options({ worker: false })).ready();
    const handle = await WorkFlow.getById(workflowId);
    const result = await handle?.done();
    const results = result?.steps[0]?.tasks ?? [];
    expect(results.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
    expect(results.every((task) => task.status === 'succeeded')).toBe(true);
    // What the creator held was finished by the other nodes.
    const pids = new Set(workers.map((w) => w.pid));
    expect(results.filter((task) => task.lostCount > 0).every((task) => pids.has((task.result as EchoResult).pid))).toBe(true);
  });

  it('keeps two prefixes on one Redis apart', async () => {
    const first = current;
    const second = `${filePrefix}-${prefixes.length}`;
    prefixes.push(second);
    const [nodeA, nodeB] = await Promise.all([startNode(options({ prefix: first })), startNode(options({ prefix: second }))]);
    const run = async (prefix: string, label: string): Promise<{ id: string; pids: number[] }> => {
      await DeFlow.register(options({ prefix, worker: false })).ready();
      const tasks = Array.from({ length: 20 }, (_, i) => ({ value: i }));
      const result = await WorkFlow.create(label).addStep({ step: echo, tasks, options: { taskConcurrency: 4 } }).run().done();
      await DeFlow.unregister();
      return { id: result.id, pids: [...new Set(result.steps[0]?.tasks.map((t) => (t.result as EchoResult).pid))] };
    };
    const a = await run(first, 'in-a');
    const b = await run(second, 'in-b');
    expect(a.pids).toEqual([nodeA?.pid]);
    expect(b.pids).toEqual([nodeB?.pid]);
    // Neither prefix can see the other's workflow.
    await DeFlow.register(options({ prefix: first, worker: false })).ready();
    expect(await WorkFlow.getById(b.id)).toBeNull();
    expect((await WorkFlow.getById(a.id))?.name).toBe('in-a');
    expect((await WorkFlow.getByName('in-b')).length).toBe(0);
  });
});
