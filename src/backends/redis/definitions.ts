/**
 * Creating workflows and adding steps and tasks. createWorkflow first enters the workflow
 * in the per-prefix indexes (global slot, also reading Redis's clock for createdAt), then
 * creates it atomically in its own slot, then waits for its runnable hint: once it returns,
 * any node can find the work even if this process dies at once.
 */
import type { BackendEvent, NewAnchoredSteps, NewTasks, NewWorkflow } from '../backend.js';
import { refusalError } from '../failures.js';
import type { RefusalRecord } from '../failures.js';
import type { RedisCore } from './core.js';
import { encodeAnchoredSteps, encodeDeclaredSteps } from './encode.js';
import type { Reads } from './reads.js';
import { text } from './records.js';
import { stamp } from './retention.js';
import type { Retention } from './retention.js';
import type { Reply } from './scripts.js';

/** Throws the refusal of a { '!', record JSON } reply (add-steps.lua, add-tasks.lua). */
function throwIfRefused(reply: Reply[]): void {
  if (text(reply[0]) === '!') throw refusalError(JSON.parse(text(reply[1])) as RefusalRecord);
}

export class Definitions {
  constructor(
    private readonly core: RedisCore,
    private readonly reads: Reads,
    private readonly retention: Retention,
  ) {}

  async createWorkflow(workflow: NewWorkflow): Promise<{ created: boolean; events: BackendEvent[] }> {
    const core = this.core;
    const g = core.keys.global;
    const steps = encodeDeclaredSteps(workflow.id, workflow.steps);
    if (workflow.replaceByName) {
      for (const id of await this.reads.idsByName(workflow.name)) {
        if (id !== workflow.id) await this.retention.removeWorkflow(id);
      }
    }
    let createdAt: number;
    try {
      createdAt = Number(await core.scripts.run('index-workflow', [g.active, g.bytime, g.byname, g.wmeta], [workflow.id, workflow.name]));
    } catch (error) {
      throw core.link.wrap(error, 'creating a workflow');
    }
    const options = workflow.options;
    const reply = await core.runWorkflow(
      'create',
      workflow.id,
      [workflow.name, JSON.stringify(options), createdAt, workflow.watchNextTask ? 1 : 0, options.keepMs ?? '', ...steps],
      'creating a workflow',
    );
    const { events, tail } = core.settle(workflow.id, reply);
    const created = Number(tail[0]) === 1;
    if (!created && Number(text(tail[1])) !== createdAt) {
      // The workflow existed: drop the index entry this call added for it.
      await this.retention.unindexNow(workflow.id, stamp(createdAt)).catch(() => undefined);
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
    throwIfRefused(reply);
    const { tail } = this.core.settle(input.workflowId, reply);
    return { added: Number(tail[0] ?? 0) };
  }

  async addTasks(input: NewTasks): Promise<{ added: number; total: number }> {
    const reply = await this.core.runWorkflow('add-tasks', input.workflowId, [
      input.stepId,
      input.batchKey ?? '',
      input.taskBuckets?.length ?? 0,
      ...input.tasksJson,
      ...(input.taskBuckets ?? []).map((bucket) => bucket ?? ''),
    ], 'adding tasks');
    throwIfRefused(reply);
    const { tail } = this.core.settle(input.workflowId, reply);
    return { added: Number(tail[0] ?? 0), total: Number(tail[1] ?? 0) };
  }

  async watchNextTask(workflowId: string): Promise<void> {
    await this.core.runWorkflow('watch', workflowId, [], 'watching nextTask events');
  }
}
