/**
 * Claims, outcomes and releases: the hot path. One round trip per batch: `complete` sends
 * one script call per workflow in the batch (in the same tick, so they are pipelined on the
 * connection), and the call of the workflow whose next batch is wanted claims it too.
 */
import type { DeflowError } from '../../errors.js';
import { faultPoint } from '../../fault-points.js';
import type {
  AdoptRequest,
  AdoptedStep,
  BackendEvent,
  ClaimRequest,
  ClaimResult,
  ClaimedJob,
  CompleteRequest,
  CompleteResult,
  JobKind,
  JobLease,
} from '../backend.js';
import { refusalError } from '../failures.js';
import { DEFAULT_QUEUES } from '../policy.js';
import { toRunnable } from '../stored-records.js';
import type { RedisCore } from './core.js';
import { encodeOutcomes } from './encode.js';
import type { OutcomeBatch } from './encode.js';
import { jobId, parseJobId } from './keys.js';
import type { Registration } from './node-book.js';
import { list, text } from './records.js';
import type { BatchCall, Reply, ScriptArg } from './scripts.js';

const NO_CLAIM: ScriptArg[] = [0, '', '', 0, 0];
const NO_ADOPT: ScriptArg[] = [0, '', '', 0, 0, ''];

function kindOf(slot: string): JobKind {
  return slot === 'b' ? 'before' : slot === 'a' ? 'after' : 'task';
}

/** claim reply (lua/lib/claim.lua) -> ClaimResult. */
function toClaimResult(request: ClaimRequest, reply: Reply[]): ClaimResult {
  const total = Number(reply[1] ?? 0);
  const watch = Number(reply[2] ?? 0) === 1;
  const lo = Number(reply[3] ?? 0);
  const n = text(reply[6]);
  const jobs: ClaimedJob[] = [];
  const again = list(reply[5]);
  for (let i = 0; i + 4 < again.length; i += 5) {
    const slot = text(again[i]);
    const kind = kindOf(slot);
    jobs.push({
      id: jobId(`${n}:${slot}`, request.workflowId),
      workflowId: request.workflowId,
      stepId: request.stepId,
      kind,
      seq: kind === 'task' ? Number(slot) : 0,
      dataJson: text(again[i + 1]),
      failedCount: Number(again[i + 2]),
      lostCount: Number(again[i + 4]),
      token: Number(again[i + 3]),
    });
  }
  const fresh = list(reply[4]);
  for (let i = 0; i < fresh.length; i++) {
    const seq = lo + i;
    jobs.push({
      id: `${n}:${seq}@${request.workflowId}`,
      workflowId: request.workflowId,
      stepId: request.stepId,
      kind: 'task',
      seq,
      dataJson: fresh[i] as string,
      failedCount: 0,
      lostCount: 0,
      token: 0,
    });
  }
  const result: ClaimResult = { jobs, watchNextTask: watch, taskCount: total };
  // A keyed rate limit's claim (lib/claim.lua): how long until a bucket that refused a task has
  // room, and the limit's name when it is not set.
  const waitMs = reply[8] === undefined ? -1 : Number(reply[8]);
  if (waitMs >= 0) result.rateLimitedMs = waitMs;
  const unknown = reply[9] === undefined ? '' : text(reply[9]);
  if (unknown !== '' && jobs.length > 0) result.unknownRateLimit = unknown;
  return result;
}

/** adopted reply of complete.lua: { workflowName, { 7 step values, claimReply }... }. */
function toAdopted(workflowId: string, reply: Reply[]): AdoptedStep[] {
  const workflowName = text(reply[0]);
  const adopted: AdoptedStep[] = [];
  for (const item of reply.slice(1)) {
    const v = list(item);
    const stepId = text(v[0]);
    const parent = text(v[6]);
    adopted.push({
      step: toRunnable(
        { workflowId, workflowName, stepId, name: text(v[1]), dataJson: text(v[3]) || 'null', runIndex: Number(text(v[5]) || 0), parentId: parent === '' ? null : parent },
        text(v[2]),
        text(v[4]),
      ),
      claim: toClaimResult({ nodeId: '', workflowId, stepId, limit: 0 }, list(v[7])),
    });
  }
  return adopted;
}

function stepKey(request: ClaimRequest): string {
  return `${request.workflowId}\u0000${request.stepId}`;
}

function lostError(nodeId: string): DeflowError {
  return refusalError({ code: 'ERR_LEASE_LOST', nodeId });
}

/** Most steps whose rate limit this process remembers (so their claims take starts first). */
const KNOWN_RATE_LIMITED = 10_000;

export class Work {
  /** Steps known to have a rate limit ("<workflowId>\0<stepId>" -> limit name). */
  private readonly rateLimited = new Map<string, string>();

  constructor(private readonly core: RedisCore) {}

  /**
   * Claims jobs of one step. A step with a rate limit (learned from the claim script's 'rate'
   * answer, then remembered) takes its starts first (rate-take.lua, in the prefix's slot),
   * claims at most those, and gives back what it did not use.
   */
  async claim(request: ClaimRequest): Promise<ClaimResult> {
    const known = this.rateLimited.get(stepKey(request));
    if (known !== undefined) return this.claimLimited(request, known);
    const { result, rateLimit } = await this.claimOnce(request, undefined);
    if (rateLimit === undefined) return result;
    this.remember(request, rateLimit);
    return this.claimLimited(request, rateLimit);
  }

  private remember(request: ClaimRequest, rateLimit: string): void {
    if (this.rateLimited.size >= KNOWN_RATE_LIMITED) this.rateLimited.clear();
    this.rateLimited.set(stepKey(request), rateLimit);
  }

  private async claimLimited(request: ClaimRequest, name: string): Promise<ClaimResult> {
    const core = this.core;
    const g = core.keys.global;
    const take = list(
      await core.guard(core.scripts.run('rate-take', [g.ratelimits, core.keys.rateStarts(name), g.rateused], [name, request.limit]), 'claim'),
    );
    if (Number(take[0]) !== 1) {
      const { result } = await this.claimOnce(request, request.limit);
      return result.jobs.length === 0 ? result : { ...result, unknownRateLimit: name };
    }
    const granted = Number(take[1]);
    const waitMs = Number(take[2]);
    if (granted === 0) return { jobs: [], watchNextTask: false, taskCount: 0, rateLimitedMs: Math.max(0, waitMs) };
    const { result } = await this.claimOnce(request, granted);
    const started = result.jobs.filter((job) => job.kind === 'task').length;
    if (started < granted) {
      const entry = text(take[3]);
      await core.guard(core.scripts.run('rate-refund', [core.keys.rateStarts(name), g.rateused], [name, entry, granted - started]), 'claim');
      return result;
    }
    return waitMs >= 0 ? { ...result, rateLimitedMs: waitMs } : result;
  }

  /** One claim script call (grant: the starts a rate limit granted); `rateLimit` when the step has one and no grant was given. */
  private async claimOnce(request: ClaimRequest, grant: number | undefined): Promise<{ result: ClaimResult; rateLimit?: string }> {
    const core = this.core;
    let registration = await this.registration(request.nodeId);
    for (let attempt = 0; ; attempt++) {
      const hold = core.nodes.holdCall(registration, request.workflowId);
      const calls: BatchCall[] = hold === null ? [] : [hold];
      const args = this.claimArgs(request, registration);
      if (grant !== undefined) args.push(grant);
      calls.push(core.workflowCall('claim', request.workflowId, args));
      const replies = await core.batch(calls, 'claim').catch((error: unknown) => {
        core.nodes.unsure(registration, request.workflowId);
        throw error;
      });
      if (hold !== null) core.nodes.held(registration, request.workflowId);
      const reply = list(replies[replies.length - 1]);
      const code = text(reply[0]);
      if (code === 'rate') return { result: { jobs: [], watchNextTask: false, taskCount: Number(reply[1] ?? 0) }, rateLimit: text(reply[3]) };
      if (code !== 'lost') {
        // The claim failed a step on an unusable stored number: it carries the common reply.
        if (Array.isArray(reply[7])) core.settle(request.workflowId, list(reply[7]));
        return { result: toClaimResult(request, reply) };
      }
      // The lease this process knows ran out; the node may still be registered (a late heartbeat).
      const refreshed = attempt === 0 ? await core.nodes.refresh(registration) : null;
      if (refreshed === null) throw lostError(request.nodeId);
      registration = refreshed;
    }
  }

  async complete(request: CompleteRequest): Promise<CompleteResult> {
    const core = this.core;
    const { batches, unknown } = encodeOutcomes(request.outcomes);
    const next = request.next;
    let registration: Registration | null = null;
    if (next !== undefined) {
      registration = await this.registration(next.nodeId).catch(() => null);
      if (!batches.has(next.workflowId)) batches.set(next.workflowId, { args: [0], ids: new Map() });
    }
    const adopt = request.adopt;
    let adopter: Registration | null = null;
    if (adopt !== undefined && adopt.handlers.length > 0 && batches.size > 0) {
      adopter = adopt.nodeId === next?.nodeId ? registration : await this.registration(adopt.nodeId).catch(() => null);
    }
    // One write, in this order: nextTask events first, then the holdings entries, then the scripts.
    const calls: BatchCall[] = [];
    if (request.events !== undefined && request.events.length > 0) {
      calls.push(...core.publishCalls(request.events));
    }
    const holds: [Registration, string][] = [];
    if (next !== undefined && registration !== null) holds.push([registration, next.workflowId]);
    if (adopter !== null) for (const workflowId of batches.keys()) holds.push([adopter, workflowId]);
    for (const [owner, workflowId] of holds) {
      const hold = core.nodes.holdCall(owner, workflowId);
      if (hold !== null) calls.push(hold);
    }
    const adoptArgs = this.adoptArgs(adopter, adopt);
    const entries = [...batches];
    const first = calls.length;
    for (const [workflowId, batch] of entries) {
      const claimer = next !== undefined && workflowId === next.workflowId ? registration : null;
      calls.push(core.workflowCall('complete', workflowId, [...this.nextArgs(claimer, next), ...adoptArgs, ...batch.args]));
    }
    const replies = await core.batch(calls, 'complete').catch((error: unknown) => {
      for (const [owner, workflowId] of holds) core.nodes.unsure(owner, workflowId);
      throw error;
    });
    faultPoint('complete:in-transition'); // the scripts ran; this node has not read their answer
    for (const [owner, workflowId] of holds) core.nodes.held(owner, workflowId);
    const result: CompleteResult = { stale: [...unknown], events: [] };
    const adopted: AdoptedStep[] = [];
    for (const [i, [workflowId, batch]] of entries.entries()) {
      const claimer = next !== undefined && workflowId === next.workflowId ? registration : null;
      const one = await this.afterComplete(workflowId, batch, claimer, next, adoptArgs, list(replies[first + i]));
      result.stale.push(...one.stale);
      result.events.push(...one.events);
      adopted.push(...one.adopted);
      if (one.claimed !== undefined) result.claimed = one.claimed;
    }
    if (next !== undefined && result.claimed === undefined) result.claimed = { jobs: [], watchNextTask: false, taskCount: 0 };
    if (adopted.length > 0) result.adopted = adopted;
    return result;
  }

  async release(jobs: readonly JobLease[]): Promise<void> {
    const byWorkflow = new Map<string, ScriptArg[]>();
    for (const job of jobs) {
      const parsed = parseJobId(job.id);
      if (parsed === null) continue;
      let args = byWorkflow.get(parsed.workflowId);
      if (args === undefined) {
        args = [];
        byWorkflow.set(parsed.workflowId, args);
      }
      args.push(parsed.field, job.token);
    }
    await Promise.all(
      [...byWorkflow].map(async ([workflowId, args]) => {
        this.core.settle(workflowId, await this.core.runWorkflow('release', workflowId, args, 'release'));
      }),
    );
  }

  private async registration(nodeId: string): Promise<Registration> {
    let registration;
    try {
      registration = await this.core.nodes.lease(nodeId);
    } catch (error) {
      throw this.core.link.wrap(error, 'claim');
    }
    if (registration === null) throw lostError(nodeId);
    return registration;
  }

  private claimArgs(request: ClaimRequest, registration: Registration): ScriptArg[] {
    return [request.stepId, registration.tag, registration.validUntil, request.limit];
  }

  private adoptArgs(registration: Registration | null, adopt: AdoptRequest | undefined): ScriptArg[] {
    if (registration === null || adopt === undefined) return NO_ADOPT;
    return [1, registration.tag, registration.validUntil, adopt.limit, adopt.handlers.length, ...adopt.handlers, (adopt.queues ?? DEFAULT_QUEUES).join(',')];
  }

  private nextArgs(registration: Registration | null, next: ClaimRequest | undefined): ScriptArg[] {
    return registration !== null && next !== undefined ? [1, next.stepId, registration.tag, registration.validUntil, next.limit] : NO_CLAIM;
  }

  /** One workflow's part of a complete, once its reply is in (a refused claim is retried here). */
  private async afterComplete(
    workflowId: string,
    batch: OutcomeBatch,
    registration: Registration | null,
    next: ClaimRequest | undefined,
    adoptArgs: ScriptArg[],
    first: Reply[],
  ): Promise<{ stale: string[]; events: BackendEvent[]; claimed?: ClaimResult; adopted: AdoptedStep[] }> {
    const wantsClaim = registration !== null && next !== undefined;
    let reply = first;
    if (text(reply[0]) === '!' && text(reply[1]) === 'LEASE') {
      // Nothing was applied. Still registered (a late heartbeat)? Claim with the new lease;
      // otherwise record the outcomes alone and let the heartbeat report the lost registration.
      const refreshed = registration === null ? null : await this.core.nodes.refresh(registration).catch(() => null);
      reply = await this.core.runWorkflow('complete', workflowId, [...this.nextArgs(refreshed, next), ...adoptArgs, ...batch.args], 'complete');
      if (text(reply[0]) === '!' && text(reply[1]) === 'LEASE') {
        reply = await this.core.runWorkflow('complete', workflowId, [...NO_CLAIM, ...NO_ADOPT, ...batch.args], 'complete');
      }
    }
    if (text(reply[0]) === '!') {
      // The workflow is gone (removed or expired): nothing can be recorded.
      return {
        stale: [...batch.ids.values()],
        events: [],
        adopted: [],
        ...(wantsClaim ? { claimed: { jobs: [], watchNextTask: false, taskCount: 0 } } : {}),
      };
    }
    const { events, tail } = this.core.settle(workflowId, reply, false);
    const stale = list(tail[0]).map((field) => batch.ids.get(text(field)) ?? jobId(text(field), workflowId));
    const claimReply = list(tail[1]);
    const adopted = toAdopted(workflowId, list(tail[2]));
    // The engine starts a discovery for a work event whose step has no runner by the next
    // turn; an adopted step whose jobs were all claimed may already be done by then.
    const exhausted = new Set(adopted.filter((a) => !this.core.discovery.isOffered(workflowId, a.step.stepId)).map((a) => a.step.stepId));
    const out: { stale: string[]; events: BackendEvent[]; claimed?: ClaimResult; adopted: AdoptedStep[] } = {
      stale,
      events: exhausted.size === 0 ? events : events.filter((e) => !(e.type === 'work' && exhausted.has(e.stepId))),
      adopted,
    };
    if (wantsClaim && next !== undefined) {
      if (text(claimReply[0]) === 'rate') {
        // A rate-limited step: its starts are taken first, in calls of their own.
        this.remember(next, text(claimReply[3]));
        out.claimed = await this.claimLimited(next, text(claimReply[3]));
      } else {
        out.claimed = claimReply.length === 0 ? { jobs: [], watchNextTask: false, taskCount: 0 } : toClaimResult(next, claimReply);
      }
    }
    return out;
  }
}
