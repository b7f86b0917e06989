/**
 * Creating workflows and adding steps and tasks. createWorkflow first enters the workflow
 * in the per-prefix indexes (global slot, also reading Redis's clock for createdAt), then
 * creates it atomically in its own slot, then waits for its runnable hint: once it returns,
 * any node can find the work even if this process dies at once.
 */
import { NotFoundError, StepClosedError } from '../../errors.js';
import type { BackendEvent, NewAnchoredSteps, NewTasks, NewWorkflow } from '../backend.js';
import type { RedisCore } from './core.js';
import { encodeAnchoredSteps, encodeDeclaredSteps } from './encode.js';
import type { Reads } from './reads.js';
import { text } from './records.js';
import type { Reply } from './scripts.js';

/** Finished workflows with `cleanOnDone` stay this long, so handles can read their results (as SQLite). */
export const CLEAN_ON_DONE_GRACE_MS = 5_000;

function notFound(workflowId: string, stepId: string): NotFoundError {
  return new NotFoundError(`step "${stepId}" of workflow ${workflowId} does not exist (was the workflow removed?)`);
}

/** { '!', code, name, status, stage } replies of add-steps.lua and add-tasks.lua. */
function refusal(reply: Reply[]): { code: string; name: string; status: string; stage: string } | null {
  if (text(reply[0]) !== '!') return null;
  return { code: text(reply[1]), name: text(reply[2]), status: text(reply[3]), stage: text(reply[4]) };
}

export class Definitions {
  constructor(
    private readonly core: RedisCore,
    private readonly reads: Reads,
  ) {}

  async createWorkflow(workflow: NewWorkflow): Promise<{ created: boolean; events: BackendEvent[] }> {
    const core = this.core;
    const g = core.keys.global;
    const steps = encodeDeclaredSteps(workflow.id, workflow.steps);
    if (workflow.replaceByName) {
      for (const id of await this.reads.idsByName(workflow.name)) {
        if (id !== workflow.id) await this.reads.removeWorkflow(id);
      }
    }
    let createdAt: number;
    try {
      createdAt = Number(await core.scripts.run('index-workflow', [g.active, g.bytime, g.byname, g.wmeta], [workflow.id, workflow.name]));
    } catch (error) {
      throw core.link.wrap(error, 'creating a workflow');
    }
    const options = workflow.options;
    const keep = options.cleanOnDone ? CLEAN_ON_DONE_GRACE_MS : options.retentionMs;
    const reply = await core.runWorkflow(
      'create',
      workflow.id,
      [workflow.name, JSON.stringify(options), createdAt, workflow.watchNextTask ? 1 : 0, keep === null ? '' : keep, ...steps],
      'creating a workflow',
    );
    const { events, tail } = core.settle(workflow.id, reply);
    const created = Number(tail[0]) === 1;
    if (!created && Number(text(tail[1])) !== createdAt) {
      // The workflow existed: drop the index entry this call added for it.
      await this.reads.unindexNow(workflow.id, String(createdAt).padStart(15, '0')).catch(() => undefined);
    }
    core.followed.add(workflow.id);
    await core.hints.flush();
    return { created, events };
  }

  async addAnchoredSteps(input: NewAnchoredSteps): Promise<{ added: number }> {
    const reply = await this.core.runWorkflow(
      'add-steps',
      input.workflowId,
      [input.anchorStepId, input.phase, ...encodeAnchoredSteps(input.steps)],
      'adding steps',
    );
    const refused = refusal(reply);
    if (refused?.code === 'ERR_NOT_FOUND') throw notFound(input.workflowId, input.anchorStepId);
    if (refused !== null) {
      throw new StepClosedError(
        `cannot add a step after the ${input.phase} phase of step "${refused.name}": that phase is over ` +
          `(step is ${refused.status}, stage ${refused.stage}). Call step.addAfter() from inside beforeAll, handler or afterAll.`,
      );
    }
    const { tail } = this.core.settle(input.workflowId, reply);
    return { added: Number(tail[0] ?? 0) };
  }

  async addTasks(input: NewTasks): Promise<{ added: number; total: number }> {
    const reply = await this.core.runWorkflow('add-tasks', input.workflowId, [input.stepId, input.batchKey ?? '', ...input.tasksJson], 'adding tasks');
    const refused = refusal(reply);
    if (refused?.code === 'ERR_NOT_FOUND') throw notFound(input.workflowId, input.stepId);
    if (refused !== null) {
      throw new StepClosedError(
        `cannot add tasks to step "${refused.name}": its tasks already ran (step is ${refused.status}, stage ${refused.stage}). ` +
          'Add a new step with step.addAfter({ step, tasks }) instead.',
      );
    }
    const { tail } = this.core.settle(input.workflowId, reply);
    return { added: Number(tail[0] ?? 0), total: Number(tail[1] ?? 0) };
  }

  async watchNextTask(workflowId: string): Promise<void> {
    await this.core.runWorkflow('watch', workflowId, [], 'watching nextTask events');
  }
}
