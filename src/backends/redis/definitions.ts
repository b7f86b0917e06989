/**
 * Creating workflows and adding steps and tasks. createWorkflow first enters the workflow
 * in the per-prefix indexes (global slot, also reading Redis's clock for createdAt), then
 * creates it atomically in its own slot, then waits for its runnable hint: once it returns,
 * any node can find the work even if this process dies at once.
 */
import type { BackendEvent, NewAnchoredSteps, NewStep, NewTasks, NewWorkflow, RetryRequest, RetryResult } from '../backend.js';
import { ValidationError } from '../../errors.js';
import { refusalError } from '../failures.js';
import type { RefusalRecord } from '../failures.js';
import { DEFAULT_QUEUE, RETRYABLE_STATUSES, queueOf } from '../policy.js';
import type { RedisCore } from './core.js';
import { encodeAnchoredSteps, encodeDeclaredSteps } from './encode.js';
import type { Reads } from './reads.js';
import { text } from './records.js';
import { stamp } from './retention.js';
import type { Retention } from './retention.js';
import type { Reply } from './scripts.js';

/**
 * keyConcurrency counts a key's leased tasks across every workflow, and a keyed rate limit keeps
 * each key's starts in a bucket shared by every workflow: their claims read keys outside the
 * workflow's slot, which a cluster refuses. Refused when the step is defined rather than failing
 * each claim (docs/backends/redis.md, Running on a cluster).
 */
function refuseOnCluster(core: RedisCore, steps: readonly NewStep[]): void {
  if (!core.cluster) return;
  for (const step of steps) {
    const what =
      step.options.keyConcurrency !== undefined ? 'keyConcurrency (with concurrencyKey)' : step.options.rateLimitKey !== undefined ? 'a keyed rateLimit ({ name, key })' : undefined;
    if (what === undefined) continue;
    throw new ValidationError(
      `step "${step.name}": ${what} is not supported on a Redis Cluster yet: its count spans workflows that live in ` +
        'different cluster slots. Use globalConcurrency, a plain rate limit, or a single Redis server for this workflow.',
    );
  }
}

/** Tasks per add-tasks script: about 12 ms of Redis time on a loaded 2-core machine (100,000 in one took 1.2 s). */
const ADD_CHUNK = 1_000;

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
    refuseOnCluster(core, workflow.steps);
    const steps = encodeDeclaredSteps(workflow.id, workflow.steps);
    const key = workflow.key ?? '';
    let createdAt: number;
    try {
      createdAt = Number(
        await core.scripts.run('index-workflow', [g.active, g.bytime, g.byname, g.wmeta, g.bykey, g.wkey], [workflow.id, workflow.name, key]),
      );
    } catch (error) {
      throw core.link.wrap(error, 'creating a workflow');
    }
    await this.recordQueues(workflow.id, workflow.steps, false);
    const options = workflow.options;
    const reply = await core.runWorkflow(
      'create',
      workflow.id,
      [workflow.name, JSON.stringify(options), createdAt, workflow.watchNextTask ? 1 : 0, options.keepMs ?? '', key, ...steps],
      'creating a workflow',
    );
    const { events, tail } = core.settle(workflow.id, reply);
    const created = Number(tail[0]) === 1;
    if (!created) {
      // The workflow existed: drop the index entries this call added for it.
      const existing = [stamp(Number(text(tail[1]))), text(tail[2]), text(tail[3])];
      await core.scripts
        .run('drop-duplicate', [g.active, g.bytime, g.byname, g.wmeta, g.bykey, g.wkey], [workflow.id, stamp(createdAt), workflow.name, key, ...existing])
        .catch(() => undefined);
    } else if (workflow.replaceByName) {
      // Only once this one is created: a start that finds its id taken removes nothing.
      for (const id of await this.reads.idsByName(workflow.name)) {
        if (id !== workflow.id) await this.retention.removeWorkflow(id);
      }
    }
    core.followed.add(workflow.id);
    await core.hints.flush();
    return { created, events };
  }

  async addAnchoredSteps(input: NewAnchoredSteps): Promise<{ added: number }> {
    refuseOnCluster(this.core, input.steps);
    await this.recordQueues(input.workflowId, input.steps, true);
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

  /**
   * Before steps of a queue other than 'default' are stored: the workflow's queues, so its
   * hints go to each queue's set (lua/lib/queue-hints.lua). Nothing for default-only steps.
   */
  private async recordQueues(workflowId: string, steps: readonly NewStep[], exists: boolean): Promise<void> {
    const queues = [...new Set(steps.map((step) => queueOf(step.options)))];
    if (queues.every((queue) => queue === DEFAULT_QUEUE)) return;
    const g = this.core.keys.global;
    await this.core.guard(this.core.scripts.run('workflow-queues', [g.wqueues], [workflowId, queues.join(','), exists ? 1 : 0]), 'storing queues');
  }

  /**
   * Many tasks go in chunks of ADD_CHUNK, one script each, in order: one script of 100,000
   * took Redis over a second, blocking every other client. Each chunk has its own batch key
   * (`<key>#<n>`), so a call repeated after a failure adds only the chunks that did not land.
   */
  async addTasks(input: NewTasks): Promise<{ added: number; total: number }> {
    let added = 0;
    let total = 0;
    const count = input.tasksJson.length;
    for (let from = 0, n = 0; from < count || n === 0; from += ADD_CHUNK, n++) {
      const whole = n === 0 && count <= ADD_CHUNK;
      const batchKey = input.batchKey === undefined ? '' : whole ? input.batchKey : `${input.batchKey}#${n}`;
      const tasksJson = whole ? input.tasksJson : input.tasksJson.slice(from, from + ADD_CHUNK);
      const chunk = <T>(all: readonly T[] | undefined): readonly T[] => (all === undefined ? [] : whole ? all : all.slice(from, from + ADD_CHUNK));
      const buckets = chunk(input.taskBuckets);
      const rateBuckets = chunk(input.taskRateBuckets);
      const reply = await this.core.runWorkflow('add-tasks', input.workflowId, [
        input.stepId,
        batchKey,
        buckets.length,
        rateBuckets.length,
        input.delayMs ?? 0,
        ...tasksJson,
        ...buckets.map((bucket) => bucket ?? ''),
        ...rateBuckets.map((bucket) => bucket ?? ''),
      ], 'adding tasks');
      throwIfRefused(reply);
      const { tail } = this.core.settle(input.workflowId, reply);
      added += Number(tail[0] ?? 0);
      total = Number(tail[1] ?? 0);
    }
    return { added, total };
  }

  /**
   * Retry: the workflow re-enters the active index and leaves the expiry index first (global
   * slot), then retry.lua runs it again atomically in its own slot; a refused retry of a
   * finished workflow puts its index entries back.
   */
  async retryWorkflow(request: RetryRequest): Promise<RetryResult> {
    const core = this.core;
    const g = core.keys.global;
    const { workflowId } = request;
    const createdAt = await core.guard(core.client.hget(core.keys.workflow(workflowId)[0] ?? '', 'createdAt'), 'retrying a workflow');
    if (createdAt !== null) await core.guard(core.scripts.run('reopen', [g.active, g.expiry], [workflowId, createdAt]), 'retrying a workflow');
    const reply = await core.runWorkflow(
      'retry',
      workflowId,
      [JSON.stringify(request.fromStepIds ?? []), request.onlyStepId ?? '', JSON.stringify(RETRYABLE_STATUSES)],
      'retrying a workflow',
    );
    if (text(reply[0]) === '!') {
      const finishedAt = text(reply[2]);
      if (finishedAt !== '') {
        const expireAt = Number(finishedAt) + Number(text(reply[3]));
        core.hints.finish(workflowId, text(reply[3]) === '' || !Number.isFinite(expireAt) ? '' : String(expireAt));
        await core.hints.flush();
      }
      throwIfRefused(reply);
    }
    const { events, tail } = core.settle(workflowId, reply);
    core.followed.add(workflowId);
    await core.hints.flush();
    return { retries: Number(tail[0] ?? 0), events };
  }

  async watchNextTask(workflowId: string): Promise<void> {
    await this.core.runWorkflow('watch', workflowId, [], 'watching nextTask events');
  }
}
