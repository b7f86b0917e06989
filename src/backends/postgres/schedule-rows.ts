/** Rows of the schedules table (migration 0013) as contract records. */
import type { ScheduleRecord } from '../backend.js';

export interface ScheduleRow {
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

export function toScheduleRecords(rows: ScheduleRow[]): ScheduleRecord[] {
  return rows.map((row) => ({
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    workflow: row.workflow,
    inputJson: row.input,
    overlap: row.overlap === 'allow' ? 'allow' : 'skip',
    catchUp: row.catch_up === 'latest' ? 'latest' : 'none',
    savedAt: Number(row.saved_at),
    lastTick: row.last_tick === null ? null : Number(row.last_tick),
    lastWorkflowId: row.last_workflow_id,
  }));
}
