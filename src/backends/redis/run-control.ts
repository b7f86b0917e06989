/** Cancel, pause and resume of a workflow on Redis: one call of lua/workflow/control.lua. */
import type { RunControlRequest, RunControlResult, WorkflowStatus } from '../backend.js';
import type { RedisCore } from './core.js';
import { text } from './records.js';

export async function controlWorkflow(core: RedisCore, request: RunControlRequest): Promise<RunControlResult | null> {
  const reply = await core.runWorkflow('control', request.workflowId, [request.action, request.errorJson ?? ''], `trying to ${request.action} a workflow`);
  if (text(reply[0]) === 'missing') return null;
  const { events, tail } = core.settle(request.workflowId, reply);
  return { changed: text(tail[0]) === '1', status: text(tail[1]) as WorkflowStatus, events };
}
