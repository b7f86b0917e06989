/** Events sent from outside a workflow: a signal to one workflow, a global event to all that run. */
import type { Backend } from '../backends/backend.js';
import type { WorkerNode } from '../engine/node.js';
import { NotFoundError } from '../errors.js';
import { checkNoNul, nonEmptyString } from '../option-checks.js';
import { newEvent, randomEventId } from './events.js';
import type { EmitOptions, GlobalEmitOptions } from './events.js';
import { noteEventsDelivered } from './telemetry.js';
import { checkWorkflowKey } from './workflow-identity.js';

/**
 * Delivers a signal to one workflow: true when it counted (new to a workflow that has not
 * finished), false for a duplicate id or a finished workflow. Rejects for an unknown workflow.
 * `node`: this process's node, which takes the steps the event starts in the same round trip.
 */
export async function signalWorkflow(
  backend: Backend,
  workflowId: unknown,
  name: unknown,
  data: unknown,
  options: EmitOptions | undefined,
  where: string,
  node?: WorkerNode,
): Promise<boolean> {
  const id = checkNoNul(nonEmptyString(workflowId, `${where}: workflow id`), `${where}: workflow id`);
  const event = newEvent(name, data, options, where, randomEventId);
  const { delivered, adopted } = await backend.deliverEvent(id, event, node?.adoptRequest());
  if (adopted !== undefined && adopted.length > 0) node?.adoptDelivered(adopted);
  if (!delivered && (await backend.getWorkflow(id)) === null) throw new NotFoundError(`${where}: workflow ${id} does not exist`);
  if (delivered) noteEventsDelivered(event.name, 1);
  return delivered;
}

/**
 * Delivers a global event to every workflow that has not finished (with `key`: only to those
 * created with that business key); returns how many received it.
 */
export async function emitGlobal(backend: Backend, name: unknown, data: unknown, options: GlobalEmitOptions | undefined): Promise<number> {
  const event = newEvent(name, data, options, 'DeFlow.emit()', randomEventId, ['id', 'key']);
  const key = options?.key === undefined ? undefined : checkWorkflowKey(options.key, 'DeFlow.emit() options: key');
  const { delivered } = await backend.broadcastEvent(event, key === undefined ? {} : { key });
  noteEventsDelivered(event.name, delivered);
  return delivered;
}
