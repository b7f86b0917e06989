/**
 * Real node processes sharing one PostgreSQL schema: one killed with SIGKILL mid-run, one
 * frozen with SIGSTOP (its heartbeats stop), one slow task that must not be stolen.
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import echo from '../fixtures/steps/echo.js';
import type { EchoResult } from '../fixtures/steps/echo.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import type { NodeProcess } from '../helpers/nodes.js';
import { DATABASE_URL, connectionsOf, dropSchemas, freshSchemaName, withAdmin } from '../helpers/postgres.js';

const schemas: string[] = [];
function freshOptions(extra: Record<string, unknown> = {}): Record<string, unknown> & { schema: string } {
  const schema = freshSchemaName();
  schemas.push(schema);
  return { backend: DATABASE_URL, schema, ...extra };
}

afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
  await dropSchemas(schemas.splice(0));
});

/** How many times each task's success is on record (job row or results batch), by seq. */
async function successesBySeq(schema: string): Promise<Map<number, number>> {
  return withAdmin(async (client) => {
    const s = client.escapeIdentifier(schema);
    const { rows } = await client.query<{ seq: number; n: number }>(
      `SELECT seq, count(*)::int AS n FROM (
         SELECT j.seq FROM ${s}.jobs j WHERE j.status = 'succeeded' AND j.seq BETWEEN 1 AND 2147483646
         UNION ALL SELECT unnest(r.seqs) FROM ${s}.results r
       ) t GROUP BY seq`,
    );
    return new Map(rows.map((row) => [row.seq, row.n]));
  });
}

function starts(nodes: readonly NodeProcess[]): number[] {
  return nodes.flatMap((node) => node.messages.filter((m) => m.type === 'start').map((m) => Number(m.value)));
}

describe('PostgreSQL with real node processes', () => {
  it('completes 2,000 tasks when one of three nodes is killed with SIGKILL mid-run, each recorded once', async () => {
    const options = freshOptions({ leaseMs: 2_000, checkProcessQueueInterval: 200 });
    const nodes = await Promise.all([startNode(options), startNode(options), startNode(options)]);
    const [victim] = nodes;
    DeFlow.register({ ...options, worker: false });
    const tasks = Array.from({ length: 2_000 }, (_, i) => ({ value: i, ms: 2 }));
    const workflow = WorkFlow.create('kill').addStep({ step: echo, tasks, options: { taskConcurrency: 8, taskMaxFailCount: 3 } }).run();
    await victim.waitFor((m) => m.type === 'start' && Number(m.value) >= 0);
    await victim.waitFor(() => victim.messages.filter((m) => m.type === 'start').length >= 100);
    await victim.kill('SIGKILL');
    const result = await workflow.done();

    const recorded = result.steps[0]?.tasks ?? [];
    expect(result.status).toBe('succeeded');
    expect(recorded.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
    expect(result.steps[0]?.progress).toMatchObject({ done: 2_000, failed: 0, total: 2_000 });
    const successes = await successesBySeq(options.schema);
    expect(successes.size).toBe(2_000);
    expect([...successes.values()].every((n) => n === 1)).toBe(true);
    // The victim's unfinished tasks were run again elsewhere, counted as one failed attempt.
    const retried = recorded.filter((task) => task.failedCount > 0);
    expect(retried.length).toBeGreaterThan(0);
    expect(retried.every((task) => (task.result as EchoResult).pid !== victim.pid)).toBe(true);
    expect(new Set(starts(nodes))).toEqual(new Set(tasks.map((task) => task.value)));
  }, 90_000);

  it('fails no task when a node is killed mid-run with the default taskMaxFailCount (1)', async () => {
    const options = freshOptions({ leaseMs: 2_000, checkProcessQueueInterval: 200 });
    const nodes = await Promise.all([startNode(options), startNode(options), startNode(options)]);
    const [victim] = nodes;
    DeFlow.register({ ...options, worker: false });
    const tasks = Array.from({ length: 2_000 }, (_, i) => ({ value: i, ms: 2 }));
    // Quick tasks: nodes claim them in large ranges, so the victim dies holding many it never started.
    const workflow = WorkFlow.create('kill-default').addStep({ step: echo, tasks, options: { taskConcurrency: 4 } }).run();
    await victim.waitFor(() => victim.messages.filter((m) => m.type === 'start').length >= 100);
    await victim.kill('SIGKILL');
    const result = await workflow.done();

    expect(result.status).toBe('succeeded');
    const recorded = result.steps[0]?.tasks ?? [];
    expect(recorded.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
    expect(result.steps[0]?.progress).toMatchObject({ done: 2_000, failed: 0, total: 2_000 });
    const successes = await successesBySeq(options.schema);
    expect(successes.size).toBe(2_000);
    expect([...successes.values()].every((n) => n === 1)).toBe(true);
    // What the victim held was charged one attempt (ERR_NODE_LOST) and run again elsewhere.
    const retried = recorded.filter((task) => task.failedCount > 0);
    expect(retried.length).toBeGreaterThan(0);
    expect(retried.every((task) => task.failedCount === 1 && (task.result as EchoResult).pid !== victim.pid)).toBe(true);
  }, 90_000);

  it('declares a frozen node dead within lease + watchdog interval, moves its work, and takes it back when it wakes', async () => {
    const leaseMs = 1_000;
    const interval = 200;
    const options = freshOptions({ leaseMs, checkProcessQueueInterval: interval });
    const [sleeper, survivor] = await Promise.all([startNode(options), startNode(options)]);
    DeFlow.register({ ...options, worker: false });
    const deflow = await DeFlow.getInstance().services();
    const tasks = Array.from({ length: 40 }, (_, i) => ({ value: i, ms: 150 }));
    const workflow = WorkFlow.create('freeze').addStep({ step: echo, tasks, options: { taskConcurrency: 2, taskMaxFailCount: 3 } }).run();
    await sleeper.waitFor((m) => m.type === 'start');
    await survivor.waitFor((m) => m.type === 'start');
    const sleeperId = (await deflow.backend.listNodes()).find((node) => node.pid === sleeper.pid)?.id;
    expect(sleeperId).toBeDefined();

    process.kill(sleeper.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    // Declared dead: removed from the nodes table by the survivor's watchdog.
    for (;;) {
      const ids = (await deflow.backend.listNodes()).map((node) => node.id);
      if (!ids.includes(sleeperId ?? '')) break;
      if (Date.now() - frozenAt > 20_000) throw new Error('the frozen node was never declared dead');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const declaredAfter = Date.now() - frozenAt;
    // Its lease ran out (up to leaseMs after its last heartbeat, which is at most leaseMs/3 old),
    // then the next watchdog round removed it: generous bounds for a loaded machine.
    expect(declaredAfter).toBeGreaterThanOrEqual(leaseMs * (2 / 3) - 50);
    expect(declaredAfter).toBeLessThan(leaseMs + interval + 2_000);
    // Its work moves: the survivor runs again (second attempt) tasks the sleeper had started.
    const heldBySleeper = new Set(sleeper.messages.filter((m) => m.type === 'start').map((m) => Number(m.value)));
    await survivor.waitFor((m) => m.type === 'start' && m.attempt === 2 && heldBySleeper.has(Number(m.value)), 20_000);

    process.kill(sleeper.pid, 'SIGCONT');
    // It learns it was declared dead (a heartbeat answers alive: false) and registers again.
    await sleeper.waitFor((m) => m.type === 'problem' && /declared dead/.test(String(m.message)), 20_000);
    const result = await workflow.done();
    expect(result.status).toBe('succeeded');
    expect(result.steps[0]?.tasks.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
    const successes = await successesBySeq(options.schema);
    expect([...successes.values()].every((n) => n === 1)).toBe(true);
    expect(successes.size).toBe(tasks.length);
    await eventuallyTrue(async () => (await deflow.backend.listNodes()).some((node) => node.id === sleeperId));
  }, 90_000);

  it('never takes a slow task from a node that keeps heartbeating', async () => {
    const options = freshOptions({ leaseMs: 1_000, checkProcessQueueInterval: 100 });
    const nodes = await Promise.all([startNode(options), startNode(options)]);
    DeFlow.register({ ...options, worker: false });
    // Three leases long, with a watchdog running every 100 ms on both nodes.
    const result = await WorkFlow.create('slow')
      .addStep({ step: echo, tasks: [{ value: 1, ms: 3_000 }], options: { taskMaxFailCount: 3 } })
      .run()
      .done();
    expect(result.steps[0]?.tasks[0]).toMatchObject({ status: 'succeeded', failedCount: 0 });
    expect(starts(nodes)).toEqual([1]);
  }, 60_000);

  it('leaves no connection open after the nodes stop', async () => {
    const options = freshOptions();
    const node = await startNode(options);
    DeFlow.register({ ...options, worker: false });
    await WorkFlow.create('tidy').addStep({ step: echo, tasks: [{ value: 1 }] }).run().done();
    expect(await connectionsOf(options.schema)).toBeGreaterThan(0);
    await DeFlow.unregister();
    await node.kill('SIGTERM');
    await eventuallyTrue(async () => (await connectionsOf(options.schema)) === 0);
  }, 60_000);
});

async function eventuallyTrue(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
