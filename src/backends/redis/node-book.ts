/**
 * What this process knows about the nodes it registered: each registration's owner tag, the
 * lease expiry it last learned (claims carry it, so a claim from a node that may have been
 * declared dead is refused inside the claim script), and the workflows it claimed jobs in.
 *
 * Holdings: before a node's first claim in a workflow, the workflow joins the per-tag SET
 * `hold:<tag>` (sent before the claim on the same connection, so it lands first). Recovery
 * of a dead registration and unregistering read that set to find its jobs; a workflow leaves
 * the set when this process sees it finish.
 */
import type { RedisClient } from './connection.js';
import type { NewNode } from '../backend.js';
import type { KeySpace } from './keys.js';
import { DEFAULT_QUEUES } from '../policy.js';
import { list, nodeInfoTail, text } from './records.js';
import type { BatchCall, Scripts } from './scripts.js';

export interface Registration {
  nodeId: string;
  tag: string;
  leaseMs: number;
  /** Lease expiry (ms, Redis clock) as of the last register/heartbeat answer. */
  validUntil: number;
  /** Workflows already in this tag's holdings set. */
  holds: Set<string>;
  /**
   * Workflows of claims whose answer was lost (the claim may have been applied): a heartbeat
   * with `held` must reconcile them too, or their jobs stay leased to this live node forever.
   */
  unsure: Set<string>;
}

export class NodeBook {
  private readonly registrations = new Map<string, Registration>();

  constructor(
    private readonly client: RedisClient,
    private readonly scripts: Scripts,
    private readonly keys: KeySpace,
  ) {}

  async register(node: NewNode, host: string): Promise<Registration> {
    const g = this.keys.global;
    const reply = list(
      await this.scripts.run('register-node', [g.nodes, g.nodeinfo, g.nodeseq], [node.id, host, node.pid, nodeInfoTail(node.handlers, node.queues ?? DEFAULT_QUEUES), node.leaseMs]),
    );
    const tag = text(reply[0]);
    const previous = this.registrations.get(node.id);
    const registration: Registration = {
      nodeId: node.id,
      tag,
      leaseMs: node.leaseMs,
      validUntil: Number(reply[1]),
      holds: previous?.tag === tag ? previous.holds : new Set(),
      unsure: previous?.tag === tag ? previous.unsure : new Set(),
    };
    this.registrations.set(node.id, registration);
    return registration;
  }

  /** Extends the lease; null when the node was declared dead. */
  async heartbeat(nodeId: string, leaseMs: number): Promise<Registration | null> {
    const g = this.keys.global;
    const reply = list(await this.scripts.run('heartbeat', [g.nodes, g.nodeinfo], [nodeId, leaseMs]));
    if (Number(reply[0]) !== 1) {
      this.registrations.delete(nodeId);
      return null;
    }
    const tag = text(reply[2]);
    let registration = this.registrations.get(nodeId);
    if (registration === undefined || registration.tag !== tag) {
      registration = { nodeId, tag, leaseMs, validUntil: 0, holds: new Set(), unsure: new Set() };
      this.registrations.set(nodeId, registration);
    }
    registration.leaseMs = leaseMs;
    registration.validUntil = Number(reply[1]);
    return registration;
  }

  /** The registration a claim runs under: known here, or looked up (a node registered elsewhere). */
  async lease(nodeId: string): Promise<Registration | null> {
    const known = this.registrations.get(nodeId);
    if (known !== undefined) return known;
    const g = this.keys.global;
    const [info, expiry] = await Promise.all([this.client.hget(g.nodeinfo, nodeId), this.client.zscore(g.nodes, nodeId)]);
    if (info === null || expiry === null) return null;
    const [tag = '', leaseMs = '0'] = info.split('|');
    return { nodeId, tag, leaseMs: Number(leaseMs), validUntil: Number(expiry), holds: new Set(), unsure: new Set() };
  }

  /** After a claim was refused for an expired lease: is the node still registered? (extends it) */
  refresh(registration: Registration): Promise<Registration | null> {
    return this.heartbeat(registration.nodeId, registration.leaseMs);
  }

  /**
   * The command adding the workflow to the registration's holdings, unless it is there
   * already: send it in the same batch as the claim that needs it, before it, so Redis runs
   * it first. Call `held` once it succeeded.
   */
  holdCall(registration: Registration, workflowId: string): BatchCall | null {
    if (registration.holds.has(workflowId)) return null;
    return { command: 'sadd', args: [this.keys.holdings(registration.tag), workflowId] };
  }

  held(registration: Registration, workflowId: string): void {
    registration.holds.add(workflowId);
  }

  /** A claim in this workflow failed without an answer: Redis may have applied it (and its holdings entry, or not). */
  unsure(registration: Registration, workflowId: string): void {
    registration.unsure.add(workflowId);
  }

  /** Workflows this process claimed in for the node, or may have (what a reconcile must look at). */
  holdingsOf(nodeId: string): string[] {
    const registration = this.registrations.get(nodeId);
    return registration === undefined ? [] : [...new Set([...registration.holds, ...registration.unsure])];
  }

  forget(nodeId: string): Registration | undefined {
    const registration = this.registrations.get(nodeId);
    this.registrations.delete(nodeId);
    return registration;
  }

  /** A workflow finished or was removed: no registration holds anything in it any more. */
  workflowGone(workflowId: string): void {
    for (const registration of this.registrations.values()) {
      registration.unsure.delete(workflowId);
      if (registration.holds.delete(workflowId)) {
        this.client.srem(this.keys.holdings(registration.tag), workflowId).catch(() => undefined);
      }
    }
  }
}
