/**
 * Schedules as stored in the prefix's slot: a HASH per schedule (`schedule:<name>`) and the
 * SET of their names (`schedules`); both share the prefix's hash tag, so a script or a
 * transaction that touches a schedule and the index stays on one cluster slot.
 */
import type { NewSchedule, ScheduleRecord } from '../backend.js';
import type { RedisCore } from './core.js';

export class Schedules {
  constructor(private readonly core: RedisCore) {}

  async save(schedule: NewSchedule): Promise<{ created: boolean }> {
    const { keys, scripts } = this.core;
    const args = [schedule.name, schedule.cron, schedule.timezone ?? '', schedule.workflow, schedule.inputJson, schedule.overlap, schedule.catchUp];
    const created = await this.core.guard(scripts.run('schedule-save', [keys.schedule(schedule.name), keys.global.schedules], args), 'saving a schedule');
    return { created: Number(created) === 1 };
  }

  async remove(name: string): Promise<boolean> {
    const { client, keys } = this.core;
    const replies = await this.core.guard(client.multi().srem(keys.global.schedules, name).del(keys.schedule(name)).exec(), 'removing a schedule');
    const first = replies?.[0];
    return first !== undefined && first[0] === null && Number(first[1]) > 0;
  }

  async list(): Promise<ScheduleRecord[]> {
    const { client, keys } = this.core;
    const names = (await this.core.guard(client.smembers(keys.global.schedules), 'listing schedules')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (names.length === 0) return [];
    const pipeline = client.pipeline();
    for (const name of names) pipeline.hgetall(keys.schedule(name));
    const replies = (await this.core.guard(pipeline.exec(), 'listing schedules')) ?? [];
    const records: ScheduleRecord[] = [];
    names.forEach((name, i) => {
      const [error, fields] = replies[i] ?? [null, null];
      if (error === null && fields !== null && typeof fields === 'object') {
        const record = toRecord(name, fields as Record<string, string>);
        if (record !== null) records.push(record);
      }
    });
    return records;
  }

  async claimTick(name: string, tick: number, workflowId: string | null): Promise<boolean> {
    const claimed = await this.core.guard(this.core.scripts.run('schedule-claim', [this.core.keys.schedule(name)], [tick, workflowId ?? '']), 'recording a schedule tick');
    return Number(claimed) === 1;
  }
}

/** A schedule's fields as a record; null when they are not deflow's (a half-written or foreign hash). */
function toRecord(name: string, fields: Record<string, string>): ScheduleRecord | null {
  const { cron, timezone, workflow, input, overlap, catch_up: catchUp, saved_at: savedAt, last_tick: lastTick, last_workflow_id: lastWorkflowId } = fields;
  if (cron === undefined || workflow === undefined || input === undefined || savedAt === undefined) return null;
  return {
    name,
    cron,
    timezone: timezone === undefined || timezone === '' ? null : timezone,
    workflow,
    inputJson: input,
    overlap: overlap === 'allow' ? 'allow' : 'skip',
    catchUp: catchUp === 'latest' ? 'latest' : 'none',
    savedAt: Number(savedAt),
    lastTick: lastTick === undefined ? null : Number(lastTick),
    lastWorkflowId: lastWorkflowId ?? null,
  };
}
