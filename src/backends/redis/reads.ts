/**
 * Reads and listings. Listings walk the per-prefix lexicographic indexes newest first and
 * drop entries whose workflow is gone (expired by TTL, removed, never created).
 */
import type { StepRecord, TaskRecord, WorkflowRecord, WorkflowStatus } from '../records.js';
import type { QueueCount, TaskPage, WorkflowCountQuery, WorkflowCounts, WorkflowQuery } from '../backend.js';
import type { RedisCore } from './core.js';
import { STEP_ATTRIBUTES, list, text, toStepRecord, toStepRecords, toTaskRecord, toWorkflowRecord } from './records.js';
import { stamp } from './retention.js';
import type { Retention } from './retention.js';

/** Most unfinished workflows one queueCounts call walks (oldest first). */
const QUEUE_COUNT_WORKFLOWS = 1_000;

/** Workflows read per round trip when counting. */
const COUNT_BATCH = 1_000;
/**
 * A create indexes its workflow (index-workflow.lua) before it stores it (its own slot): an entry
 * whose workflow is not there may be a create in flight. It is dropped only if the workflow is
 * still missing this long after (dropping it at once would leave that workflow unlisted for good).
 */
const IN_FLIGHT_MS = 2_000;

export class Reads {
  constructor(
    private readonly core: RedisCore,
    private readonly retention: Retention,
    /** Drop index entries of workflows found gone (off for a read-only look). */
    private readonly repair = true,
  ) {}

  async getWorkflow(workflowId: string): Promise<WorkflowRecord | null> {
    const record = toWorkflowRecord(await this.guard(this.core.client.hgetall(this.wf(workflowId)), 'reading a workflow'));
    if (record !== null && (record.status === 'pending' || record.status === 'running')) this.core.followed.add(workflowId);
    return record;
  }

  async listWorkflows(query: WorkflowQuery): Promise<WorkflowRecord[]> {
    const g = this.core.keys.global;
    // The narrowest index: by key, else by name, else every workflow; other filters as read.
    const by: { key: string; of: string } | null =
      query.key !== undefined ? { key: g.bykey, of: query.key } : query.name !== undefined ? { key: g.byname, of: query.name } : null;
    const key = by === null ? g.bytime : by.key;
    const prefix = by === null ? '' : `${by.of}\u0000`;
    const min = by === null ? '-' : `[${prefix}`;
    let max = query.before === undefined ? (by === null ? '+' : `(${by.of}\u0001`) : `(${prefix}${stamp(query.before.createdAt)}:${query.before.id}`;
    const out: WorkflowRecord[] = [];
    const page = Math.max(query.limit, 20);
    for (;;) {
      const members = (await this.guard(this.core.client.call('ZRANGE', key, max, min, 'BYLEX', 'REV', 'LIMIT', 0, page), 'listing workflows')) as string[];
      if (members.length === 0) return out;
      const entries = members.map((member) => {
        const body = member.slice(prefix.length);
        const colon = body.indexOf(':');
        return { member, createdAt: body.slice(0, colon), id: body.slice(colon + 1) };
      });
      const hashes = await this.guard(Promise.all(entries.map((entry) => this.core.client.hgetall(this.wf(entry.id)))), 'listing workflows');
      for (const [i, entry] of entries.entries()) {
        const record = toWorkflowRecord(hashes[i] ?? {});
        const indexed = query.key !== undefined ? record?.key === query.key : query.name === undefined || record?.name === query.name;
        if (record === null) {
          this.unindexIfStillGone(entry.id, entry.createdAt, query.key === undefined ? (query.name ?? '') : '', query.key ?? '');
          continue;
        }
        if (stamp(record.createdAt) !== entry.createdAt || !indexed) {
          this.unindex(entry.id, entry.createdAt, query.key === undefined ? (query.name ?? '') : '', query.key ?? '');
          continue;
        }
        if (query.status !== undefined && record.status !== query.status) continue;
        if (query.name !== undefined && record.name !== query.name) continue;
        out.push(record);
        if (out.length >= query.limit) return out;
      }
      if (members.length < page) return out;
      max = `(${members[members.length - 1] ?? ''}`;
    }
  }

  /**
   * Exact counts: walks the narrowest index (key, else name, else time) a batch at a time and
   * reads each workflow's status, name and key; entries whose workflow is gone are not counted.
   * O(workflows indexed) round trips of COUNT_BATCH: the server caches the answer.
   */
  async countWorkflows(query: WorkflowCountQuery): Promise<WorkflowCounts> {
    const g = this.core.keys.global;
    const by: { key: string; of: string } | null =
      query.key !== undefined ? { key: g.bykey, of: query.key } : query.name !== undefined ? { key: g.byname, of: query.name } : null;
    const key = by === null ? g.bytime : by.key;
    const prefix = by === null ? '' : `${by.of}\u0000`;
    let min = by === null ? '-' : `[${prefix}`;
    const max = by === null ? '+' : `(${by.of}\u0001`;
    const counts: WorkflowCounts = {};
    for (;;) {
      const members = (await this.guard(this.core.client.call('ZRANGE', key, min, max, 'BYLEX', 'LIMIT', 0, COUNT_BATCH), 'counting workflows')) as string[];
      const ids = members.map((member) => {
        const body = member.slice(prefix.length);
        return body.slice(body.indexOf(':') + 1);
      });
      const fields = await this.guard(Promise.all(ids.map((id) => this.core.client.hmget(this.wf(id), 'id', 'status', 'name', 'key'))), 'counting workflows');
      for (const [workflowId, status, name, businessKey] of fields) {
        if (workflowId === null || workflowId === undefined) continue;
        if (query.name !== undefined && name !== query.name) continue;
        if (query.key !== undefined && businessKey !== query.key) continue;
        const state = (status ?? 'pending') as WorkflowStatus;
        counts[state] = (counts[state] ?? 0) + 1;
      }
      if (members.length < COUNT_BATCH) return counts;
      min = `(${members[members.length - 1] ?? ''}`;
    }
  }

  async getSteps(workflowId: string): Promise<StepRecord[]> {
    const hash = await this.guard(this.core.client.hgetall(this.core.keys.workflow(workflowId)[2] ?? ''), 'reading steps');
    return toStepRecords(workflowId, hash);
  }

  async getStep(workflowId: string, stepId: string): Promise<StepRecord | null> {
    const keys = this.core.keys.workflow(workflowId);
    const reply = list(await this.guard(this.core.scripts.run('read-step', keys, [stepId, ...STEP_ATTRIBUTES]), 'reading a step'));
    if (reply.length === 0) return null;
    const attributes: Record<string, string> = {};
    STEP_ATTRIBUTES.forEach((name, i) => {
      attributes[name] = text(reply[i]);
    });
    const anchor = text(reply[STEP_ATTRIBUTES.length]);
    return toStepRecord(workflowId, attributes, anchor === '' ? null : anchor);
  }

  async getTasks(workflowId: string, stepId: string, page: TaskPage): Promise<TaskRecord[]> {
    const keys = this.core.keys.workflow(workflowId);
    const reply = list(await this.guard(this.core.scripts.run('read-tasks', keys, [stepId, page.afterSeq, page.limit]), 'reading tasks'));
    const rows = list(reply[1]);
    const tasks: TaskRecord[] = [];
    for (let i = 0; i + 3 < rows.length; i += 4) {
      tasks.push(toTaskRecord(workflowId, stepId, Number(rows[i]), text(rows[i + 1]), text(rows[i + 2]), text(rows[i + 3])));
    }
    return tasks;
  }

  /**
   * Ready and leased jobs by queue (metrics): one read-only script per unfinished workflow
   * (queue-counts.lua, its steps walked), pipelined, over the oldest QUEUE_COUNT_WORKFLOWS of
   * the active index; workflows beyond them are left out of the counts.
   */
  async queueCounts(): Promise<QueueCount[]> {
    const ids = await this.guard(this.core.client.zrange(this.core.keys.global.active, 0, QUEUE_COUNT_WORKFLOWS - 1), 'counting jobs by queue');
    const answers = await this.guard(
      this.core.scripts.batch(ids.map((id) => ({ script: 'queue-counts' as const, keys: this.core.keys.workflow(id), args: [] }))),
      'counting jobs by queue',
    );
    const byQueue = new Map<string, QueueCount>();
    for (const answer of answers) {
      if (answer instanceof Error) continue; // a workflow removed meanwhile, or unreadable: not counted
      const flat = list(answer);
      for (let i = 0; i + 2 < flat.length; i += 3) {
        const queue = text(flat[i]);
        const count = byQueue.get(queue) ?? { queue, ready: 0, leased: 0 };
        count.ready += Number(flat[i + 1]);
        count.leased += Number(flat[i + 2]);
        byQueue.set(queue, count);
      }
    }
    return [...byQueue.values()];
  }

  /** Ids of every workflow with this name (for ifExist: 'replace'). */
  async idsByName(name: string): Promise<string[]> {
    const members = (await this.guard(
      this.core.client.call('ZRANGE', this.core.keys.global.byname, `[${name}\u0000`, `(${name}\u0001`, 'BYLEX'),
      'listing workflows',
    )) as string[];
    return [...new Set(members.map((member) => member.slice(member.indexOf(':', name.length + 1) + 1)))];
  }

  private wf(workflowId: string): string {
    return this.core.keys.workflow(workflowId)[0] ?? '';
  }

  /** Drops the index entry of a workflow found gone (in the background: a read does not wait). */
  private unindex(workflowId: string, createdAt: string, name: string, key: string): void {
    if (!this.repair) return;
    this.retention.unindexNow(workflowId, createdAt, name, key).catch(() => undefined);
  }

  /** Drops the entry of a workflow found missing if it is still missing a moment later (in the background). */
  private unindexIfStillGone(workflowId: string, createdAt: string, name: string, key: string): void {
    if (!this.repair) return;
    setTimeout(() => {
      this.core.client
        .exists(this.wf(workflowId))
        .then((found) => (found === 0 ? this.retention.unindexNow(workflowId, createdAt, name, key) : undefined))
        .catch(() => undefined);
    }, IN_FLIGHT_MS).unref();
  }

  private guard<T>(promise: Promise<T>, during: string): Promise<T> {
    return this.core.guard(promise, during);
  }
}
