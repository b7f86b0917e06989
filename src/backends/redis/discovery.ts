/**
 * Finding claimable work: runnableSteps reads the per-prefix hints and checks each hinted
 * workflow (check.lua) in one pipelined round trip, together with the workflows this
 * process saw work appear in recently (usually the whole answer, in one round trip).
 * Hints that led to nothing are dropped or re-scored to their next delayed job.
 *
 * Reconciliation (the safety net for a hint lost with a crash between a workflow script
 * and its hint, or a finished workflow whose index update was lost): a slice of the
 * unfinished workflows is checked on every recovery round, round robin.
 */
import type { RedisClient } from './connection.js';
import createDebug from 'debug';
import type { RunnableStep, RunnableSteps } from '../backend.js';
import { servesStep } from '../policy.js';
import { toRunnable } from '../stored-records.js';
import type { HintIndex } from './hint-index.js';
import type { KeySpace } from './keys.js';
import { list, text } from './records.js';
import type { BatchCall, Reply, Scripts } from './scripts.js';

const debug = createDebug('deflow:redis:discovery');

type Check =
  | { kind: 'missing' }
  | { kind: 'done'; expireAt: string }
  | { kind: 'ok'; createdAt: number; wv: number; nextAt: string; steps: RunnableStep[]; now: number; expire: boolean };

/** Runnable steps in claim order: highest priority first, then oldest workflow, then run index. */
function claimOrder(a: { createdAt: number; step: RunnableStep }, b: { createdAt: number; step: RunnableStep }): number {
  return priorityOf(b.step) - priorityOf(a.step) || a.createdAt - b.createdAt || a.step.runIndex - b.step.runIndex;
}

/** A stored priority others may have written: anything but a finite number counts as 0. */
function priorityOf(step: RunnableStep): number {
  const priority: unknown = step.options.priority;
  return typeof priority === 'number' && Number.isFinite(priority) ? priority : 0;
}

/** How often runnableSteps reads the global hints when the recent workflows have work. */
const GLOBAL_READ_MS = 100;

export class Discovery {
  /** Where this process's reconciliation continues (random start: nodes spread over the list). */
  private cursor = Math.floor(Math.random() * 1_000);
  private lastGlobalRead = -Infinity;
  /** Steps this process's own scripts just made claimable, with what a node needs to run them. */
  private readonly offered = new Map<string, { createdAt: number; step: RunnableStep }>();
  /** Redis clock minus this process's clock, as of the last answer that carried it. */
  private clockOffset = 0;

  constructor(
    private readonly client: RedisClient,
    private readonly scripts: Scripts,
    private readonly keys: KeySpace,
    private readonly hints: HintIndex,
    /** A check started steps whose timer came due: the common reply of those transitions (RedisCore.settle). */
    private readonly onTransitions: (workflowId: string, reply: Reply[]) => void,
    /** Runs expire-waits.lua on workflows whose held-back steps' waitTimeout ran out. */
    private readonly expireWaits: (workflowIds: string[]) => Promise<void>,
  ) {}

  /**
   * A script run by this process made these steps claimable (flat reply of runnable_now in
   * lua/lib/machine.lua). The next runnableSteps answers with them without a round trip, if
   * the global hints were read recently: the engine then starts the next step of a chain at
   * once (a node that lost the race to claim it simply gets no job).
   */
  offer(workflowId: string, flat: readonly string[]): void {
    const name = flat[0] ?? '';
    const createdAt = Number(flat[1]);
    for (let i = 2; i + 6 < flat.length; i += 7) {
      const step = this.toStep(workflowId, name, flat, i);
      this.offered.set(`${workflowId}\u0000${step.stepId}`, { createdAt, step });
    }
  }

  /** Whether a script just offered this step (it still had claimable jobs). */
  isOffered(workflowId: string, stepId: string): boolean {
    return this.offered.has(`${workflowId}\u0000${stepId}`);
  }

  /**
   * With `queues`, only those queues' hint sets are read (lua/lib/queue-hints.lua), and steps
   * of other queues in a hinted workflow are left out of the answer (their hints stay: they have
   * work for other nodes). Without: the default queue's set, every queue's steps.
   */
  async runnableSteps(limit: number, queues?: readonly string[]): Promise<RunnableSteps> {
    const serves = (entry: { step: RunnableStep }) => queues === undefined || servesStep(queues, entry.step.options);
    if (this.offered.size > 0 && performance.now() - this.lastGlobalRead < GLOBAL_READ_MS) {
      const entries = [...this.offered.values()].filter(serves);
      this.offered.clear();
      entries.sort(claimOrder);
      // Only other queues' steps were offered: read the hints as usual.
      if (entries.length > 0) return { steps: entries.slice(0, limit).map((entry) => entry.step), now: Date.now() + this.clockOffset, nextRunAt: null };
    }
    this.offered.clear();
    const g = this.keys.global;
    const recent = this.hints.recentIds();
    // The workflows this process saw work appear in are checked first, in the same write as
    // the global hints. The hints are skipped when read less than GLOBAL_READ_MS ago, unless
    // the recent workflows turn out to have nothing.
    let head: Reply[] | null = null;
    const readHints = recent.length === 0 || performance.now() - this.lastGlobalRead >= GLOBAL_READ_MS;
    const calls: BatchCall[] = recent.map((id) => this.checkCall(id, limit));
    // Each served queue's hint set (lua/lib/queue-hints.lua): another queue's backlog is not read.
    const hintsCall: BatchCall = { script: 'hints', keys: [g.runnable], args: [limit, ...(queues ?? [])] };
    if (readHints) calls.unshift(hintsCall);
    const answers = await this.scripts.batch(calls);
    if (readHints) head = this.hintsReply(answers.shift());
    const checks = new Map<string, Check>();
    recent.forEach((id, i) => checks.set(id, this.parseCheck(id, answers[i])));
    const anySteps = [...checks.values()].some((check) => check.kind === 'ok' && check.steps.length > 0);
    if (head === null && !anySteps) head = this.hintsReply((await this.scripts.batch([hintsCall]))[0]);
    const due = head === null ? [] : list(head[1]).map(text);
    const unchecked = due.filter((id) => !checks.has(id));
    if (unchecked.length > 0) {
      const more = await this.scripts.batch(unchecked.map((id) => this.checkCall(id, limit)));
      unchecked.forEach((id, i) => checks.set(id, this.parseCheck(id, more[i])));
    }

    const expiring = [...checks].flatMap(([id, check]) => (check.kind === 'ok' && check.expire ? [id] : []));
    if (expiring.length > 0) await this.expireWaits(expiring);

    let now = head === null ? 0 : Number(text(head[0]));
    for (const check of checks.values()) if (check.kind === 'ok') now = Math.max(now, check.now);
    if (now === 0) now = Date.now() + this.clockOffset;
    else this.clockOffset = now - Date.now();
    const later = head === null ? '' : text(head[2]);
    let nextRunAt = later === '' ? null : Number(later);
    const found: { createdAt: number; step: RunnableStep }[] = [];
    const drops: { workflowId: string; wv: number; nextAt: string }[] = [];
    for (const [id, check] of checks) {
      if (check.kind !== 'ok') {
        this.settleGone(id, check);
        continue;
      }
      for (const step of check.steps) found.push({ createdAt: check.createdAt, step });
      if (check.nextAt !== '') {
        const at = Number(check.nextAt);
        if (at > now) nextRunAt = nextRunAt === null ? at : Math.min(nextRunAt, at);
      }
      if (check.steps.length === 0) {
        this.hints.forget(id);
        drops.push({ workflowId: id, wv: check.wv, nextAt: check.nextAt });
      }
    }
    await this.hints.drop(drops);
    const mine = found.filter(serves);
    mine.sort(claimOrder);
    return { steps: mine.slice(0, limit).map((entry) => entry.step), now, nextRunAt };
  }

  /** Checks the next `count` unfinished workflows and repairs their hints and index entries. */
  async reconcile(count: number): Promise<void> {
    let ids = await this.client.zrange(this.keys.global.active, this.cursor, this.cursor + count - 1);
    if (ids.length === 0 && this.cursor > 0) ids = await this.client.zrange(this.keys.global.active, 0, count - 1);
    this.cursor = ids.length < count ? 0 : this.cursor + count;
    if (ids.length === 0) return;
    const answers = await this.scripts.batch(ids.map((id) => this.checkCall(id, 1)));
    const checks = ids.map((id, i) => this.parseCheck(id, answers[i]));
    const [seconds, micros] = await this.client.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    ids.forEach((id, i) => {
      const check = checks[i] as Check;
      if (check.kind !== 'ok') return this.settleGone(id, check);
      if (check.steps.length > 0) this.hints.add(id, now, check.wv, []);
      else if (check.nextAt !== '') this.hints.add(id, Number(check.nextAt), check.wv, []);
    });
    await this.hints.flush();
  }

  private settleGone(id: string, check: Check): void {
    this.hints.forget(id);
    if (check.kind === 'done') {
      this.hints.finish(id, check.expireAt);
      void this.hints.flush();
      return;
    }
    const g = this.keys.global;
    this.scripts
      .run('unindex-workflow', [g.active, g.bytime, g.byname, g.wmeta, g.runnable, g.hintv, g.expiry, g.bykey, g.wkey, g.wqueues], [id, '', '', ''])
      .catch((error: unknown) => debug('unindexing the vanished workflow %s failed: %O', id, error));
  }

  private checkCall(workflowId: string, limit: number): BatchCall & { script: 'check' } {
    return { script: 'check', keys: this.keys.workflow(workflowId), args: [workflowId, this.keys.channel, limit] };
  }

  /** Seven values from `at` (id name handler data options runIndex parentId) as a RunnableStep. */
  private toStep(workflowId: string, workflowName: string, flat: readonly string[], at: number): RunnableStep {
    const parent = flat[at + 6] ?? '';
    const base = {
      workflowId,
      workflowName,
      stepId: flat[at] ?? '',
      name: flat[at + 1] ?? '',
      dataJson: flat[at + 3] ?? 'null',
      runIndex: Number(flat[at + 5] || 0),
      parentId: parent === '' ? null : parent,
    };
    return toRunnable(base, flat[at + 2] ?? '', flat[at + 4] ?? '');
  }

  private hintsReply(answer: Reply | Error | undefined): Reply[] {
    if (answer instanceof Error) throw answer;
    this.lastGlobalRead = performance.now();
    return list(answer);
  }

  private parseCheck(workflowId: string, answer: Reply | Error | undefined): Check {
    if (answer instanceof Error) throw answer;
    const reply = list(answer);
    const kind = text(reply[0]);
    if (kind === 'missing') return { kind };
    if (kind === 'done') {
      const finishedAt = text(reply[2]);
      const keep = text(reply[3]);
      const expireAt = Number(finishedAt) + Number(keep);
      // An unusable stored time (not written by deflow) keeps the workflow, as an unusable keep does in Lua.
      return { kind, expireAt: finishedAt === '' || keep === '' || !Number.isFinite(expireAt) ? '' : String(expireAt) };
    }
    if (reply[8] !== undefined) this.onTransitions(workflowId, list(reply[8]));
    const flat = list(reply[5]).map(text);
    const steps: RunnableStep[] = [];
    const name = text(reply[2]);
    for (let i = 0; i + 6 < flat.length; i += 7) steps.push(this.toStep(workflowId, name, flat, i));
    return {
      kind: 'ok',
      createdAt: Number(text(reply[1])),
      wv: Number(text(reply[3]) || 0),
      nextAt: text(reply[4]),
      steps,
      now: Number(text(reply[6])),
      expire: text(reply[7]) === '1',
    };
  }
}
