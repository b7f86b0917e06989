/**
 * What a WorkFlow tells others about its start: workflows `ifExist: 'replace'` removes are
 * announced to the handles waiting for them, and a step nobody will ever run is warned about.
 */
import type { Backend, NewStep } from '../backends/backend.js';
import type { WorkflowStatus } from '../backends/records.js';

/** Statuses a workflow does not leave. */
export const TERMINAL: readonly WorkflowStatus[] = ['succeeded', 'failed', 'cancelled'];

/** A `worker: false` process starting steps whose handler only processes of its own script can run: a likely wait for ever. */
export function warnAboutScriptHandlers(workflowName: string, steps: readonly NewStep[]): void {
  for (const step of steps) {
    if (step.handler.entry === undefined) continue;
    process.emitWarning(
      `workflow "${workflowName}": step "${step.name}" uses a StepHandler defined in this script (${step.handler.entry}), ` +
        'and this process runs no work (worker: false); only processes started from this same script can run it. ' +
        'Move the handler to a module of its own and import it, or register with worker: true.',
      { type: 'DeflowWarning', code: 'DEFLOW_UNRUNNABLE_STEP' },
    );
  }
}

/** Workflows of this name that have not finished: `ifExist: 'replace'` is about to remove them. */
export async function unfinishedByName(backend: Backend, name: string): Promise<string[]> {
  const records = await backend.listWorkflows({ name, limit: 1000 });
  return records.filter((record) => !TERMINAL.includes(record.status)).map((record) => record.id);
}

/** Tells handles following removed workflows (in every process) that there is no end to wait for. */
export async function announceRemoved(backend: Backend, ids: readonly string[]): Promise<void> {
  await backend.publish(ids.map((workflowId) => ({ type: 'workflow', workflowId, status: 'cancelled' })));
}
