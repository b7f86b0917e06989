/**
 * Cron schedules (docs/concepts.md#schedules): stored in the backend, listed with their next
 * tick, each tick starting its definition once under an id made of the tick; `overlap: 'skip'`
 * holds ticks back while the previous workflow runs; `catchUp` decides what a node that starts
 * after ticks were missed fires. The same on every backend (the tick record moves forward only).
 */
import { describe, expect, it } from 'vitest';
import DeFlow, { ValidationError, WorkFlow } from '../../src/index.js';
import '../fixtures/workflows/echoes.js';
import { releaseHeld } from '../fixtures/held-workflow.js';
import type { Conformance } from './context.js';
import { eventually, sleep } from './context.js';

const ISO_TICK = /^schedule:[^:]+:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z)$/;

/** The ticks (epoch ms) of the stored workflows of a schedule, oldest first. */
async function ticksOf(name: string): Promise<number[]> {
  const workflows = await WorkFlow.getByKey(`schedule:${name}`);
  return workflows
    .map((workflow) => {
      const match = ISO_TICK.exec(workflow.id);
      if (match === null) throw new Error(`workflow ${workflow.id} of schedule ${name} has no tick id`);
      return Date.parse(match[1] as string);
    })
    .sort((a, b) => a - b);
}

async function scheduleNamed(name: string): Promise<Awaited<ReturnType<typeof DeFlow.schedules>>[number]> {
  const found = (await DeFlow.schedules()).find((schedule) => schedule.name === name);
  if (found === undefined) throw new Error(`no schedule ${name}`);
  return found;
}

export function schedules(t: Conformance): void {
  describe('schedules', () => {
    it('are stored, replaced by name, listed with their next tick and removed', async () => {
      await t.register({ worker: false });
      expect(await DeFlow.schedules()).toEqual([]);
      expect(await DeFlow.schedule('nightly', { cron: '0 3 * * *', timezone: 'Europe/Paris', workflow: 'fixture-echoes', input: { values: [1] } })).toBe(true);
      expect(await DeFlow.schedule('a-every-5s', { cron: '*/5 * * * * *', workflow: 'fixture-echoes', overlap: 'allow', catchUp: 'latest' })).toBe(true);
      const listed = await DeFlow.schedules();
      expect(listed.map((schedule) => schedule.name)).toEqual(['a-every-5s', 'nightly']);
      const nightly = listed[1];
      expect(nightly).toMatchObject({
        cron: '0 3 * * *',
        timezone: 'Europe/Paris',
        workflow: 'fixture-echoes',
        input: { values: [1] },
        overlap: 'skip',
        catchUp: 'none',
        lastTick: null,
        lastWorkflowId: null,
      });
      // 03:00 in Paris is 01:00 or 02:00 UTC, within the next day.
      const next = nightly?.nextRun as Date;
      expect([1, 2]).toContain(next.getUTCHours());
      expect(next.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000 + 5_000);
      expect(listed[0]).toMatchObject({ timezone: null, input: null, overlap: 'allow', catchUp: 'latest' });
      expect((listed[0]?.nextRun as Date).getTime() % 5000).toBe(0);
      // Saved again: replaced, not duplicated.
      expect(await DeFlow.schedule('nightly', { cron: '30 4 * * 1', workflow: 'fixture-echoes' })).toBe(false);
      expect(await scheduleNamed('nightly')).toMatchObject({ cron: '30 4 * * 1', timezone: null, input: null });
      expect(await DeFlow.unschedule('nightly')).toBe(true);
      expect(await DeFlow.unschedule('nightly')).toBe(false);
      expect((await DeFlow.schedules()).map((schedule) => schedule.name)).toEqual(['a-every-5s']);
    });

    it('refuses bad input at the call, saying what is wrong', async () => {
      await t.register({ worker: false });
      const bad = (name: unknown, options: unknown): Promise<boolean> => DeFlow.schedule(name as string, options as never);
      await expect(bad('x', { cron: '61 * * * *', workflow: 'fixture-echoes' })).rejects.toThrow(/options\.cron "61 \* \* \* \*" does not parse .*minute/);
      await expect(bad('x', { cron: '* * *', workflow: 'fixture-echoes' })).rejects.toThrow(ValidationError);
      await expect(bad('x', { cron: '* * * * *', timezone: 'Mars/Olympus', workflow: 'fixture-echoes' })).rejects.toThrow(/unknown time zone "Mars\/Olympus"/);
      await expect(bad('x', { cron: '* * * * *', workflow: 'no-such-definition' })).rejects.toThrow(/no workflow definition named "no-such-definition" is loaded/);
      await expect(bad('x', { cron: '* * * * *', workflow: 'fixture-echoes', overlap: 'queue' })).rejects.toThrow(/overlap must be "skip" or "allow"/);
      await expect(bad('x', { cron: '* * * * *', workflow: 'fixture-echoes', catchUp: 'all' })).rejects.toThrow(/catchUp must be "none" or "latest"/);
      await expect(bad('x', { cron: '* * * * *', workflow: 'fixture-echoes', every: 5 })).rejects.toThrow(ValidationError);
      await expect(bad('', { cron: '* * * * *', workflow: 'fixture-echoes' })).rejects.toThrow(/name must be a non-empty string/);
      expect(await DeFlow.schedules()).toEqual([]);
    });

    it('starts one workflow per tick, under an id made of the tick, and records the last tick', async () => {
      await t.register();
      await DeFlow.schedule('per-second', { cron: '* * * * * *', workflow: 'fixture-echoes', input: { values: [7] }, overlap: 'allow' });
      const saved = await scheduleNamed('per-second');
      const ticks = await eventually(async () => {
        const found = await ticksOf('per-second');
        return found.length >= 3 ? found : undefined;
      });
      await DeFlow.unschedule('per-second');
      // Every second after the save, none twice, none left out.
      expect(ticks[0]).toBeGreaterThan(saved.savedAt.getTime());
      ticks.forEach((tick, i) => i > 0 && expect(tick - (ticks[i - 1] as number)).toBe(1000));
      const first = await WorkFlow.getById(`schedule:per-second:${new Date(ticks[0] as number).toISOString()}`);
      expect(first).toMatchObject({ name: 'fixture-echoes', key: 'schedule:per-second' });
      const result = await (first as WorkFlow).done();
      expect(result.steps[0]?.tasks.map((task) => (task.result as { value: number }).value)).toEqual([7]);
    });

    it("with overlap 'skip', starts nothing while the previous workflow of the schedule runs", async () => {
      await t.register();
      await DeFlow.schedule('held', { cron: '* * * * * *', workflow: 'fixture-held', input: { value: 1 } });
      const [first] = await eventually(async () => {
        const found = await ticksOf('held');
        return found.length > 0 ? found : undefined;
      });
      // Three more ticks go by, recorded as handled, while the first workflow runs.
      await eventually(async () => {
        const { lastTick } = await scheduleNamed('held');
        return lastTick !== null && lastTick.getTime() >= (first as number) + 3000 ? true : undefined;
      });
      expect(await ticksOf('held')).toEqual([first]);
      expect((await scheduleNamed('held')).lastWorkflowId).toBe(`schedule:held:${new Date(first as number).toISOString()}`);
      releaseHeld();
      const ticks = await eventually(async () => {
        const found = await ticksOf('held');
        return found.length >= 2 ? found : undefined;
      });
      await DeFlow.unschedule('held');
      releaseHeld();
      expect(ticks[1]).toBeGreaterThan((first as number) + 3000);
    });

    it("after every node was down, 'latest' fires the most recent missed tick once and 'none' fires none", async () => {
      await t.register({ worker: false });
      // Two ticks a minute, one and two seconds from now: both pass while no node runs.
      const second = new Date(Date.now()).getUTCSeconds();
      const cron = `${(second + 1) % 60},${(second + 2) % 60} * * * * *`;
      await DeFlow.schedule('caught-up', { cron, workflow: 'fixture-echoes', input: { values: [1] }, catchUp: 'latest', overlap: 'allow' });
      await DeFlow.schedule('not-caught-up', { cron, workflow: 'fixture-echoes', input: { values: [1] }, catchUp: 'none', overlap: 'allow' });
      // The last of the ticks that pass before a node runs: the second one, unless saving took so
      // long that the first had already gone by.
      const first = ((await scheduleNamed('caught-up')).nextRun as Date).getTime();
      const latestMissed = new Date(first).getUTCSeconds() === (second + 1) % 60 ? first + 1000 : first;
      // Nothing fires while no node runs.
      await eventually(async () => (Date.now() > latestMissed + 300 ? true : undefined));
      expect(await ticksOf('caught-up')).toEqual([]);
      await DeFlow.unregister();
      await t.register();
      await eventually(async () => ((await scheduleNamed('caught-up')).lastTick !== null ? true : undefined));
      expect(await ticksOf('caught-up')).toEqual([latestMissed]);
      expect((await scheduleNamed('caught-up')).lastTick?.getTime()).toBe(latestMissed);
      // The round that fired it also looked at 'not-caught-up'; give a late start a moment to show.
      await sleep(500);
      expect(await ticksOf('not-caught-up')).toEqual([]);
      expect((await scheduleNamed('not-caught-up')).lastTick).toBeNull();
      expect(await ticksOf('caught-up')).toEqual([latestMissed]);
    });
  });
}
