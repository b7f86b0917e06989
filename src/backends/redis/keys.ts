/**
 * The Redis key layout. Every key starts with the prefix, a colon and a hash tag. A prefix has
 * no braces, so `<prefix>:{*` (SCAN MATCH, ACL `~`) matches exactly one app's keys; `<prefix>:*`
 * would also match a prefix that extends it with a colon (`<prefix>:b`).
 *
 *   <prefix>:{<workflowId>}:<name>   the thirteen keys of one workflow (one cluster slot)
 *   <prefix>:{<prefix>}:<name>       the per-prefix indexes: nodes, hints, listings, retention
 *
 * A Lua script only ever touches the keys of one of those tags. The two name sets never
 * overlap, so a workflow whose id equals the prefix cannot collide with an index.
 */
import { ValidationError } from '../../errors.js';
import { checkRedisPrefix } from './config.js';

/** Workflow key names, in the KEYS order every workflow script expects (lua/lib/core.lua). */
export const WORKFLOW_KEY_NAMES = ['wf', 'sx', 'st', 'td', 'js', 'er', 'rq', 'dl', 'ready', 'held', 'rl', 'bk', 'ev'] as const;

export interface GlobalKeys {
  /** ZSET unfinished workflows, score createdAt. */
  active: string;
  /** ZSET of every workflow, member `<createdAt 15 digits>:<id>` (lexicographic = time order). */
  bytime: string;
  /** ZSET of every workflow, member `<name>\0<createdAt 15 digits>:<id>`. */
  byname: string;
  /** HASH workflow id -> `<createdAt 15 digits>:<name>`. */
  wmeta: string;
  /** ZSET of every workflow with a business key, member `<key>\0<createdAt 15 digits>:<id>`. */
  bykey: string;
  /** HASH workflow id -> business key (workflows with one only), to find its `bykey` member again. */
  wkey: string;
  /** ZSET workflow id -> earliest time it may have claimable jobs. */
  runnable: string;
  /** HASH workflow id -> highest work version hinted. */
  hintv: string;
  /** HASH workflow id -> the queues its steps use, when one is not 'default' (lua/lib/queue-hints.lua). */
  wqueues: string;
  /** ZSET finished workflow id -> retention expiry. */
  expiry: string;
  /** ZSET node id -> lease expiry. */
  nodes: string;
  /** HASH node id -> registration record. */
  nodeinfo: string;
  /** STRING counter of owner tags. */
  nodeseq: string;
  /** SET owner tags of dead registrations whose jobs are not fully recovered. */
  dead: string;
  /** HASH rate limit name -> "<max>|<per ms>". */
  ratelimits: string;
  /** HASH rate limit name -> starts in its window (lua/global/rate-take.lua). */
  rateused: string;
  /** SET of schedule names (each one's fields in `schedule(name)`). */
  schedules: string;
}

export class KeySpace {
  readonly global: GlobalKeys;
  /** Pub/sub channel of every event of this prefix. */
  readonly channel: string;
  private readonly globalBase: string;

  constructor(readonly prefix: string) {
    checkRedisPrefix(prefix);
    this.globalBase = `${prefix}:{${prefix}}:`;
    const g = (name: string): string => this.globalBase + name;
    this.global = {
      active: g('active'),
      bytime: g('bytime'),
      byname: g('byname'),
      wmeta: g('wmeta'),
      bykey: g('bykey'),
      wkey: g('wkey'),
      runnable: g('runnable'),
      hintv: g('hintv'),
      wqueues: g('wqueues'),
      expiry: g('expiry'),
      nodes: g('nodes'),
      nodeinfo: g('nodeinfo'),
      nodeseq: g('nodeseq'),
      dead: g('dead'),
      ratelimits: g('ratelimits'),
      rateused: g('rateused'),
      schedules: g('schedules'),
    };
    this.channel = `${prefix}:events`;
  }

  /** The thirteen keys of a workflow, in script KEYS order. */
  workflow(workflowId: string): string[] {
    if (workflowId.length === 0) throw new ValidationError('a workflow id must not be empty');
    const base = `${this.prefix}:{${workflowId}}:`;
    return WORKFLOW_KEY_NAMES.map((name) => base + name);
  }

  /** LIST of a rate limit's starts in its window, oldest first (lua/global/rate-take.lua). */
  rateStarts(name: string): string {
    return `${this.globalBase}rate:${name}`;
  }

  /** HASH of one schedule's fields (lua/global/schedule-save.lua), in the prefix's slot like its index. */
  schedule(name: string): string {
    return `${this.globalBase}schedule:${name}`;
  }

  /** SET of the workflows an owner tag claimed jobs in (read when that registration dies). */
  holdings(tag: string): string {
    return `${this.globalBase}hold:${tag}`;
  }
}

/** A job field inside a workflow: `<step number>:<slot>`; slot is the task seq, `b` or `a`. */
export type JobField = string;

/**
 * Job ids handed to the engine: `<n>:<slot>@<workflowId>`. Unique across the backend; the
 * part before the first `@` is the field inside the workflow's hashes.
 */
export function jobId(field: JobField, workflowId: string): string {
  return `${field}@${workflowId}`;
}

export function parseJobId(id: string): { field: JobField; n: string; slot: string; workflowId: string } | null {
  const at = id.indexOf('@');
  const colon = id.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return null;
  return { field: id.slice(0, at), n: id.slice(0, colon), slot: id.slice(colon + 1, at), workflowId: id.slice(at + 1) };
}

/**
 * The hash tag Redis Cluster would hash for a key (the first `{...}` with something inside),
 * or the whole key. Used to assert that a script's keys share one slot.
 */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close <= open + 1) return key;
  return key.slice(open + 1, close);
}
