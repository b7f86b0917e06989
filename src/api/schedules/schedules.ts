/** DeFlow.schedule / unschedule / schedules: the calls, on top of the backend's stored schedules. */
import type { Backend } from '../../backends/backend.js';
import { requireDefinition } from '../definition-registry.js';
import { checkSchedule, checkScheduleName, scheduleInfo } from './schedule-options.js';
import type { ScheduleInfo } from './schedule-options.js';

/**
 * Stores (creates or replaces) a schedule. The definition must be loaded in the calling process:
 * a name that is not is refused at the call, as DeFlow.start refuses it, so a typo never becomes
 * a schedule that no node can fire. Resolves true when it created the schedule.
 */
export async function saveSchedule(backend: Backend, name: unknown, options: unknown): Promise<boolean> {
  const schedule = checkSchedule(name, options);
  requireDefinition(schedule.workflow, `DeFlow.schedule(${JSON.stringify(schedule.name)}) options.workflow`);
  const { created } = await backend.saveSchedule(schedule);
  await announce(backend);
  return created;
}

export async function removeSchedule(backend: Backend, name: unknown): Promise<boolean> {
  const removed = await backend.removeSchedule(checkScheduleName(name, 'DeFlow.unschedule() name'));
  if (removed) await announce(backend);
  return removed;
}

export async function listSchedules(backend: Backend): Promise<ScheduleInfo[]> {
  const [records, now] = await Promise.all([backend.listSchedules(), backend.now()]);
  return records.map((record) => scheduleInfo(record, now));
}

/** Other nodes' schedulers re-read the schedules on a wake-up (they sleep until their next tick). */
async function announce(backend: Backend): Promise<void> {
  await backend.publish([{ type: 'wake' }]);
}
