/**
 * What every part of the Redis backend shares once it is open: the connections, the
 * scripts, the key layout, node registrations, hints, events, and the one place that turns
 * a workflow script's common reply into events, hints and index updates.
 */
import { randomUUID } from 'node:crypto';
import createDebug from 'debug';
import { Cluster } from 'ioredis';
import type { BackendEvent } from '../backend.js';
import type { BackendError } from '../../errors.js';
import { CorruptRecordError } from '../../errors.js';
import { corruptNumberMessage } from '../failures.js';
import type { CorruptNumberRecord } from '../failures.js';
import type { ProblemLog } from '../problem-log.js';
import { Discovery } from './discovery.js';
import { EventBus } from './event-bus.js';
import { Followed } from './followed.js';
import type { RedisClient, RedisLink } from './connection.js';
import { HintIndex } from './hint-index.js';
import type { KeySpace } from './keys.js';
import { NodeBook } from './node-book.js';
import { list, text } from './records.js';
import type { BatchCall, Reply, ScriptArg, ScriptMode, WorkflowScript } from './scripts.js';
import { Scripts } from './scripts.js';

const debug = createDebug('deflow:redis');

export class RedisCore {
  readonly client: RedisClient;
  /** A Redis Cluster: some features that span workflows are refused (definitions.ts). */
  readonly cluster: boolean;
  readonly scripts: Scripts;
  readonly nodes: NodeBook;
  readonly hints: HintIndex;
  readonly bus: EventBus;
  readonly discovery: Discovery;
  /** Workflows handles here wait for; repaired after a reconnect, announced on a failure. */
  readonly followed: Followed;
  /** Redis time when the command connection last became ready (null until known). */
  connectedAt: number | null = null;
  /** Why this backend stopped for good (a connection gave up); every call then rejects with it. */
  failure: BackendError | null = null;
  private readonly fatalListeners = new Set<(error: BackendError) => void>();

  constructor(
    readonly link: RedisLink,
    readonly events: RedisLink,
    readonly keys: KeySpace,
    assertOneSlot: boolean,
    scriptMode: ScriptMode,
    readonly problems: ProblemLog,
  ) {
    this.client = link.client;
    this.cluster = link.client instanceof Cluster;
    this.scripts = new Scripts(this.client, assertOneSlot, scriptMode);
    this.nodes = new NodeBook(this.client, this.scripts, keys);
    const origin = randomUUID();
    this.hints = new HintIndex(this.scripts, keys, origin, (error) => debug('posting hints failed: %O', error));
    this.bus = new EventBus(events, keys.channel, origin, (event) => this.observe(event), problems);
    // Events of timers a check started reach every process through Redis, like a script's.
    this.discovery = new Discovery(
      this.client,
      this.scripts,
      keys,
      this.hints,
      (workflowId, reply) => void this.settle(workflowId, reply),
      async (ids) => {
        const replies = await this.batch(ids.map((id) => this.workflowCall('expire-waits', id, [])), 'failing steps whose waitTimeout ran out');
        ids.forEach((id, i) => this.settle(id, list(replies[i])));
      },
    );
    this.followed = new Followed(this.client, keys, [link, events], (batch) => this.bus.deliver(batch));
  }

  /** Runs a workflow script: its thirteen keys, then the workflow id and channel, then `args`. */
  async runWorkflow(name: WorkflowScript, workflowId: string, args: readonly ScriptArg[], during: string): Promise<Reply[]> {
    try {
      return list(await this.scripts.run(name, this.keys.workflow(workflowId), [workflowId, this.keys.channel, ...args]));
    } catch (error) {
      throw this.link.wrap(error, during);
    }
  }

  /** Awaits a command, turning its failure into a BackendError that says what was being done. */
  async guard<T>(promise: Promise<T>, during: string): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      throw this.link.wrap(error, during);
    }
  }

  /**
   * The calls that publish `events`: one PUBLISH on a single server. On a cluster, one call per
   * workflow run on that workflow's master (publish.lua), so its events reach subscribers in the
   * order of the events its scripts publish there ('done' never before its last 'nextTask').
   */
  publishCalls(events: readonly BackendEvent[]): BatchCall[] {
    const plain = (batch: readonly BackendEvent[]): BatchCall => ({ command: 'publish', args: [this.keys.channel, JSON.stringify(batch)] });
    if (!this.cluster) return [plain(events)];
    const byWorkflow = new Map<string, BackendEvent[]>();
    const other: BackendEvent[] = [];
    for (const event of events) {
      const workflowId = 'workflowId' in event && typeof event.workflowId === 'string' ? event.workflowId : null;
      if (workflowId === null) other.push(event);
      else byWorkflow.set(workflowId, [...(byWorkflow.get(workflowId) ?? []), event]);
    }
    const calls = [...byWorkflow].map(([workflowId, batch]) => this.workflowCall('publish', workflowId, [JSON.stringify(batch)]));
    return other.length > 0 ? [...calls, plain(other)] : calls;
  }

  /** A workflow script call for a batch. */
  workflowCall(name: WorkflowScript, workflowId: string, args: readonly ScriptArg[]): BatchCall {
    return { script: name, keys: this.keys.workflow(workflowId), args: [workflowId, this.keys.channel, ...args] };
  }

  /** Sends calls in one write; throws the first failure (as a BackendError). */
  async batch(calls: readonly BatchCall[], during: string): Promise<Reply[]> {
    let replies: (Reply | Error)[];
    try {
      replies = await this.scripts.batch(calls);
    } catch (error) {
      throw this.link.wrap(error, during);
    }
    const failed = replies.find((reply): reply is Error => reply instanceof Error);
    if (failed !== undefined) throw this.link.wrap(failed, during);
    return replies as Reply[];
  }

  /**
   * Acts on a common reply (lua/lib/machine.lua): queues the hint and work events when work
   * appeared, the index update when the workflow finished; returns the events and the tail.
   * `echo` false: the caller hands the work events to the engine (complete), so this process
   * does not receive them again over pub/sub.
   */
  settle(workflowId: string, reply: Reply[], echo = true): { events: BackendEvent[]; tail: Reply[] } {
    const eventsJson = text(reply[0]);
    const events = eventsJson === '' ? [] : (JSON.parse(eventsJson) as BackendEvent[]);
    const wv = text(reply[1]);
    const earliest = text(reply[2]);
    if (wv !== '' && earliest !== '') {
      // Work appeared without a work event: a delayed retry. A wake makes idle nodes ask for
      // runnable steps now and so learn when it comes due, instead of at their next poll.
      const delayedOnly = !events.some((event) => event.type === 'work');
      this.hints.add(workflowId, Number(earliest), Number(wv), delayedOnly ? [{ type: 'wake' }] : events, delayedOnly || echo);
    }
    const finished = text(reply[3]);
    if (finished !== '') {
      this.hints.finish(workflowId, text(reply[4]));
      this.nodes.workflowGone(workflowId);
    }
    if (wv !== '' || finished !== '') this.hints.flushSoon();
    const runnable = list(reply[6]);
    if (runnable.length > 0) this.discovery.offer(workflowId, runnable.map(text));
    for (const found of list(reply[7])) this.reportCorrupt(text(found));
    return { events, tail: list(reply[5]) };
  }

  /** A stored number a script found unusable (lua/lib/core.lua num): reported once per field. */
  private reportCorrupt(json: string): void {
    const record = JSON.parse(json) as CorruptNumberRecord;
    const kind = `corrupt-number:${record.workflowId}:${record.stepId ?? ''}:${record.field}`;
    const { workflowId, stepId, field } = record;
    const fields: Record<string, string> = stepId === undefined ? { workflowId, field } : { workflowId, stepId, field };
    this.problems.report(kind, 'store', new CorruptRecordError(corruptNumberMessage(record), fields));
  }

  /**
   * A connection stopped for good: stop the other one too (events alone would be lost for
   * good), stop posting hints, and tell handles waiting here to look again: their reads now
   * reject with `error`, so their done() rejects instead of hanging.
   */
  fail(error: BackendError): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.link.fail(error);
    this.events.fail(error);
    this.hints.close().catch(() => undefined);
    this.followed.abandon();
    for (const listener of [...this.fatalListeners]) {
      try {
        listener(error);
      } catch (thrown) {
        debug('fatal listener threw: %O', thrown);
      }
    }
  }

  /** Calls `listener` once when the backend stops for good (at once if it already did). */
  onFatal(listener: (error: BackendError) => void): () => void {
    if (this.failure !== null) {
      listener(this.failure);
      return () => undefined;
    }
    this.fatalListeners.add(listener);
    return () => {
      this.fatalListeners.delete(listener);
    };
  }

  /** Stops timers and closes both connections (the backend is closing). */
  async close(): Promise<void> {
    this.followed.stop();
    await this.hints.close();
    this.bus.close();
    this.link.close();
  }

  private observe(event: BackendEvent): void {
    if (event.type === 'work') this.hints.remember(event.workflowId);
    else if (event.type === 'workflow') {
      this.followed.delete(event.workflowId);
      this.hints.forget(event.workflowId);
      this.nodes.workflowGone(event.workflowId);
    }
  }
}
