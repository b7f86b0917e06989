/** Events sent from outside a workflow: a signal to one workflow, a global event to all that run. */
import type { Backend } from '../backends/backend.js';
import { NotFoundError } from '../errors.js';
import { checkNoNul, nonEmptyString } from '../option-checks.js';
import { newEvent, randomEventId } from './events.js';
import type { EmitOptions } from './events.js';

/**
 * Delivers a signal to one workflow: true when it counted (new to a workflow that has not
 * finished), false for a duplicate id or a finished workflow. Rejects for an unknown workflow.
 */
export async function signalWorkflow(backend: Backend, workflowId: unknown, name: unknown, data: unknown, options: EmitOptions | undefined, where: string): Promise<boolean> {
  const id = checkNoNul(nonEmptyString(workflowId, `${where}: workflow id`), `${where}: workflow id`);
  const event = newEvent(name, data, options, where, randomEventId);
  const { delivered } = await backend.deliverEvent(id, event);
  if (!delivered && (await backend.getWorkflow(id)) === null) throw new NotFoundError(`${where}: workflow ${id} does not exist`);
  return delivered;
}

/** Delivers a global event to every workflow that has not finished; returns how many received it. */
export async function emitGlobal(backend: Backend, name: unknown, data: unknown, options: EmitOptions | undefined): Promise<number> {
  const event = newEvent(name, data, options, 'DeFlow.emit()', randomEventId);
  return (await backend.broadcastEvent(event)).delivered;
}
