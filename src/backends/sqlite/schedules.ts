/** Schedules in the embedded store (migration 0011, sql/schedules.sql): rows to records. */
import type { NewSchedule, ScheduleRecord } from '../backend.js';
import type { Statements } from './statements.js';

interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string | null;
  workflow: string;
  input: string;
  overlap: string;
  catch_up: string;
  saved_at: number;
  last_tick: number | null;
  last_workflow_id: string | null;
}

/** Upserts a schedule, inside the caller's transaction; true when it is new. */
export function saveSchedule(q: Statements, schedule: NewSchedule, now: number): boolean {
  const existed = q.scheduleExists.get(schedule.name) !== undefined;
  q.saveSchedule.run({
    name: schedule.name,
    cron: schedule.cron,
    timezone: schedule.timezone,
    workflow: schedule.workflow,
    input: schedule.inputJson,
    overlap: schedule.overlap,
    catchUp: schedule.catchUp,
    now,
  });
  return !existed;
}

export function listSchedules(q: Statements): ScheduleRecord[] {
  return (q.listSchedules.all() as ScheduleRow[]).map((row) => ({
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    workflow: row.workflow,
    inputJson: row.input,
    overlap: row.overlap === 'allow' ? 'allow' : 'skip',
    catchUp: row.catch_up === 'latest' ? 'latest' : 'none',
    savedAt: row.saved_at,
    lastTick: row.last_tick,
    lastWorkflowId: row.last_workflow_id,
  }));
}
