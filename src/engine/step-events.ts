/**
 * What a step that waited for events sees of them (`step.events`): the first event of each
 * name it waits for, in `waitFor` order. Read once per runner, before its first job starts.
 */
import type { Backend, EventRecord, RunnableStep } from '../backends/backend.js';

export function eventsWaitedFor(names: readonly string[], received: readonly EventRecord[]): EventRecord[] {
  const out: EventRecord[] = [];
  for (const name of names) {
    const first = received.find((event) => event.name === name);
    if (first !== undefined) out.push(first);
  }
  return out;
}

/** The step with its events filled in, or null when it waits for none or has them already. */
export function withEvents(backend: Backend, step: RunnableStep): Promise<RunnableStep> | null {
  const names = step.options.waitFor;
  if (names === undefined || names.length === 0 || step.events !== undefined) return null;
  return backend.getEvents(step.workflowId).then((received) => ({ ...step, events: eventsWaitedFor(names, received) }));
}
