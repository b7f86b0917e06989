/**
 * A schedule fired by three node processes, one of them killed (SIGKILL) midway: every tick
 * while nodes run starts exactly one workflow (its id is made of the tick, so a second start
 * of it creates nothing), none is left out, and none is started again after the kill.
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { WorkFlow } from '../../src/index.js';
import '../fixtures/workflows/echoes.js';
import { startNode } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';

const TICK_ID = /^schedule:every-second:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z)$/;

async function ticks(): Promise<number[]> {
  const workflows = await WorkFlow.getByKey('schedule:every-second');
  return workflows
    .map((workflow) => {
      const match = TICK_ID.exec(workflow.id);
      if (match === null) throw new Error(`workflow ${workflow.id} has no tick id`);
      return Date.parse(match[1] as string);
    })
    .sort((a, b) => a - b);
}

async function atLeast(count: number): Promise<number[]> {
  return eventually(async () => {
    const found = await ticks();
    return found.length >= count ? found : undefined;
  }, 90_000);
}

export function scheduleProcesses(t: Conformance): void {
  describe('schedules with node processes', () => {
    it('starts one workflow per tick over 50 ticks with three nodes, one killed midway', async () => {
      // A short lease: a task the killed node held is run again soon.
      const options = { ...t.options(), leaseMs: 1_000, checkProcessQueueInterval: 200 };
      const nodes = await Promise.all([startNode(options), startNode(options), startNode(options)]);
      await t.register({ worker: false });
      await DeFlow.schedule('every-second', { cron: '* * * * * *', workflow: 'fixture-echoes', input: { values: [1] }, overlap: 'allow' });
      const savedAt = ((await DeFlow.schedules())[0]?.savedAt as Date).getTime();
      await atLeast(10);
      await nodes[0]?.kill('SIGKILL');
      const before = (await ticks()).length;
      await atLeast(before + 40);
      expect(await DeFlow.unschedule('every-second')).toBe(true);
      const listed = await ticks();
      // One workflow per second from the first tick after the save to the last, the kill included:
      // none twice (the tick is the id) and none missing (each looked up by its id, not only in
      // the listing).
      const first = Math.floor(savedAt / 1000) * 1000 + 1000;
      expect(listed[0]).toBeGreaterThanOrEqual(first);
      const last = listed.at(-1) as number;
      expect((last - first) / 1000 + 1).toBeGreaterThanOrEqual(50);
      const seconds = Array.from({ length: (last - first) / 1000 + 1 }, (_, i) => first + i * 1000);
      const workflows = await Promise.all(seconds.map((tick) => WorkFlow.getById(`schedule:every-second:${new Date(tick).toISOString()}`)));
      expect(seconds.filter((_, i) => workflows[i] === null).map((tick) => new Date(tick).toISOString())).toEqual([]);
      // Each ran its task once, on a node that was alive.
      const counts = await Promise.all(workflows.map(async (workflow) => (await (workflow as WorkFlow).done()).steps[0]?.tasks.length));
      expect(counts.every((count) => count === 1)).toBe(true);
      await Promise.all(nodes.slice(1).map((node) => node.kill('SIGTERM')));
    }, 240_000);
  });
}
