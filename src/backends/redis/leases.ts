/**
 * Nodes, their leases and recovery.
 *
 * - A node's lease (`nodes` ZSET, Redis clock) covers every job it holds; heartbeats extend it.
 * - recoverExpired: expire-nodes.lua declares nodes dead (only once this process has been
 *   connected for their lease, so a Redis outage does not kill live nodes), their owner tags
 *   join `dead`; then each workflow in a dead tag's holdings runs recover.lua (one node
 *   loss per job, ERR_NODE_LOST). A tag leaves `dead` once all its workflows are done, so a
 *   recoverer that dies midway is simply redone by the next one (recover.lua is idempotent).
 * - heartbeat with `held`: reconcile.lua in each workflow this process claimed in for the node.
 */
import { hostname } from 'node:os';
import type { BackendEvent, NewNode, RecoverResult } from '../backend.js';
import { NODE_LOST } from '../failures.js';
import { DEFAULT_MAX_NODE_LOSSES } from '../policy.js';
import type { NodeRecord } from '../records.js';
import type { RedisCore } from './core.js';
import { parseJobId } from './keys.js';
import { list, text, toNodeRecord } from './records.js';

/** Unfinished workflows checked per recovery round by the hint reconciliation. */
const RECONCILE_SLICE = 25;

export class Leases {
  constructor(private readonly core: RedisCore) {}

  async registerNode(node: NewNode): Promise<void> {
    try {
      await this.core.nodes.register(node, node.host || hostname());
    } catch (error) {
      throw this.core.link.wrap(error, 'registering the node');
    }
  }

  async heartbeat(nodeId: string, leaseMs: number, held?: readonly string[]): Promise<{ alive: boolean }> {
    const core = this.core;
    let registration;
    try {
      registration = await core.nodes.heartbeat(nodeId, leaseMs);
    } catch (error) {
      throw core.link.wrap(error, 'heartbeat');
    }
    if (registration === null) return { alive: false };
    if (held !== undefined) {
      const keep = new Map<string, string[]>();
      for (const id of held) {
        const parsed = parseJobId(id);
        if (parsed === null) continue;
        const fields = keep.get(parsed.workflowId) ?? [];
        fields.push(parsed.field);
        keep.set(parsed.workflowId, fields);
      }
      const workflows = new Set([...core.nodes.holdingsOf(nodeId), ...keep.keys()]);
      await Promise.all(
        [...workflows].map(async (workflowId) => {
          const reply = await core.runWorkflow('reconcile', workflowId, [registration.tag, ...(keep.get(workflowId) ?? [])], 'heartbeat');
          core.settle(workflowId, reply);
        }),
      );
    }
    return { alive: true };
  }

  async unregisterNode(nodeId: string): Promise<void> {
    const core = this.core;
    const g = core.keys.global;
    try {
      const tag = text(await core.scripts.run('unregister-node', [g.nodes, g.nodeinfo], [nodeId]));
      core.nodes.forget(nodeId);
      if (tag === '') return;
      const holdings = core.keys.holdings(tag);
      const workflows = await core.client.smembers(holdings);
      await Promise.all(
        workflows.map(async (workflowId) => {
          core.settle(workflowId, await core.runWorkflow('reconcile', workflowId, [tag], 'unregister'));
        }),
      );
      await core.client.del(holdings);
      await core.hints.flush();
    } catch (error) {
      throw core.link.wrap(error, 'unregistering the node');
    }
  }

  async recoverExpired(limit: number): Promise<RecoverResult> {
    const core = this.core;
    const g = core.keys.global;
    const events: BackendEvent[] = [];
    if (core.connectedAt === null) return { recovered: 0, nodesRemoved: 0, events };
    try {
      const reply = list(await core.scripts.run('expire-nodes', [g.nodes, g.nodeinfo, g.dead], [core.connectedAt]));
      const nodesRemoved = Number(reply[1] ?? 0);
      let recovered = 0;
      for (const tag of list(reply[2]).map(text)) {
        if (recovered >= limit) break;
        const holdings = core.keys.holdings(tag);
        const workflows = await core.client.smembers(holdings);
        const budget = limit - recovered;
        const replies = await Promise.all(
          workflows.map((workflowId) => core.runWorkflow('recover', workflowId, [JSON.stringify(NODE_LOST), budget, DEFAULT_MAX_NODE_LOSSES, tag], 'recovery')),
        );
        let complete = true;
        replies.forEach((one, i) => {
          const { events: fired, tail } = core.settle(workflows[i] ?? '', one);
          events.push(...fired);
          recovered += Number(tail[0] ?? 0);
          if (Number(tail[1] ?? 0) === 1) complete = false;
        });
        if (complete) {
          await core.client.srem(g.dead, tag);
          await core.client.del(holdings);
        }
      }
      await core.discovery.reconcile(RECONCILE_SLICE);
      await core.hints.flush();
      return { recovered, nodesRemoved, events };
    } catch (error) {
      throw core.link.wrap(error, 'recovery');
    }
  }

  async listNodes(): Promise<NodeRecord[]> {
    const g = this.core.keys.global;
    try {
      const [expiries, infos] = await Promise.all([this.core.client.zrange(g.nodes, 0, -1, 'WITHSCORES'), this.core.client.hgetall(g.nodeinfo)]);
      const nodes: NodeRecord[] = [];
      for (let i = 0; i + 1 < expiries.length; i += 2) {
        const id = expiries[i] ?? '';
        const info = infos[id];
        if (info !== undefined) nodes.push(toNodeRecord(id, info, Number(expiries[i + 1])));
      }
      return nodes.sort((a, b) => a.startedAt - b.startedAt);
    } catch (error) {
      throw this.core.link.wrap(error, 'listing nodes');
    }
  }
}
