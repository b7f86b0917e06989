/**
 * The backend's dedicated connection. It LISTENs on the schema's channel and hands every
 * event to the subscribers of this process, and it carries the node's heartbeats, so they
 * never wait behind the pool.
 *
 * Lifecycle:  idle -> connecting -> listening -> reconnecting -> listening ... -> closed
 *   reconnecting  the connection was lost (network, server restart, pg_terminate_backend):
 *                 it connects again with backoff and LISTENs again, then replays the step and
 *                 workflow events of the last minute it has not delivered (kept in the events
 *                 table) and emits `resync` (handles re-read what they follow) and `wake`, so
 *                 idle nodes look again for work they missed.
 *
 * Payload lines (see functions/01_events.sql): `{json}`, `<id> {json}` (kept for replay),
 * `#<id>` (too big for NOTIFY: read it back). Any role that can connect can NOTIFY, so a line
 * proves nothing: a numbered event is recognised by its id and its content together, and only
 * one read from the table or returned by this process's own call stops a later copy, so a
 * forged line cannot suppress a real one (it only keeps the replay from delivering an event
 * with the same id and content again, and the replay ends with `resync` anyway). The `#<id>`
 * lines of one notification are read in one bounded query.
 *
 * Events of this process's own calls that return them (create, complete, recover) are
 * delivered at once from the call's answer, as an in-process backend would, and their
 * NOTIFY echo (recognised by the sending connection's pid) is dropped: a late duplicate
 * 'work' event would cost the node a needless claim round trip.
 */
import createDebug from 'debug';
import pg from 'pg';
import type { Client, ClientConfig, QueryResult, QueryResultRow } from 'pg';
import { BackendError, CorruptRecordError } from '../../errors.js';
import { faultPoint } from '../../fault-points.js';
import type { BackendEvent, EventListener } from '../backend.js';
import { checkEvent, excerpt, parseJson } from '../event-messages.js';
import type { Checked } from '../event-messages.js';
import type { ProblemLog } from '../problem-log.js';
import type { Queries } from './queries.js';

const debug = createDebug('deflow:postgres:events');

export type ChannelState = 'idle' | 'connecting' | 'listening' | 'reconnecting' | 'closed';

/** Replayable events are remembered this long (the events table keeps them one minute). */
const SEEN_TTL_MS = 120_000;
/** At most this many remembered (a flood of forged numbered lines must not grow memory without end). */
const MAX_SEEN = 50_000;
/** At most this many `#<id>` lines of one notification are read (a real one holds far fewer). */
const MAX_STORED_PER_NOTIFICATION = 1_000;
const MAX_BIGINT = 9_223_372_036_854_775_807n;
/** An expected echo that never came (its connection was lost) is forgotten after this. */
const ECHO_TTL_MS = 10_000;
const MAX_RETRY_MS = 2_000;

export class EventChannel {
  private state: ChannelState = 'idle';
  private client: Client | null = null;
  private readonly listeners = new Set<EventListener>();
  /** Numbered events met, by id and content: since when, and whether the store vouched for them. */
  private readonly seen = new Map<string, { at: number; stored: boolean }>();
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  /** Deliveries waiting for an event read back from the table, so order is kept. */
  private ordered: Promise<void> | null = null;
  /** NOTIFY echoes of events delivered locally already: "<pid>|<event json>" -> how many, since when. */
  private readonly echoes = new Map<string, { count: number; at: number }>();
  /** The other order: events that arrived by NOTIFY before the call that caused them answered. */
  private readonly early = new Map<string, { count: number; at: number }>();

  constructor(
    private readonly config: ClientConfig,
    private readonly q: Queries,
    /** Reads back stored events by id (their payloads as stored, checked here); ids not stored are absent. */
    private readonly fetchEvents: (ids: readonly string[]) => Promise<Map<string, unknown>>,
    private readonly problems: ProblemLog,
    /** For messages: the channel LISTENed to. */
    private readonly channelName: string,
  ) {}

  get status(): ChannelState {
    return this.state;
  }

  /** Connects and LISTENs; rejects when the server cannot be reached. */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    await this.connect(false);
  }

  /**
   * Delivers the events a call of this process returned (sent by the server connection with
   * pid `pid`) right away, and drops their NOTIFY echo when it comes.
   */
  deliverOwn(pid: number, events: readonly BackendEvent[], replayed: readonly { id: string; event: BackendEvent }[]): void {
    for (const { id, event } of replayed) this.remember(id, event, true);
    const fresh: BackendEvent[] = [];
    for (const event of events) {
      const key = `${pid}|${JSON.stringify(event)}`;
      if (take(this.early, key)) continue; // its NOTIFY came first and was delivered then
      count(this.echoes, key);
      fresh.push(event);
    }
    this.deliver(fresh);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs a query on the dedicated connection; null when it is down (the caller falls back to
   * the pool). A query unanswered after `timeoutMs` drops the connection (it may be half-open).
   */
  async query<R extends QueryResultRow>(text: string, values: unknown[], timeoutMs: number): Promise<QueryResult<R> | null> {
    const client = this.client;
    if (client === null || this.state !== 'listening') return null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.drop(client, new Error(`no answer within ${timeoutMs} ms`));
        reject(new BackendError(`PostgreSQL did not answer within ${timeoutMs} ms; reconnecting`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([client.query<R>(text, values), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.listeners.clear();
    const client = this.client;
    this.client = null;
    if (client !== null) await client.end().catch(() => undefined);
  }

  private async connect(reconnecting: boolean): Promise<void> {
    this.state = reconnecting ? 'reconnecting' : 'connecting';
    const client = new pg.Client(this.config);
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, null));
    client.on('notification', (message) => this.onPayload(message.payload ?? '', message.processId));
    try {
      await client.connect();
      if (reconnecting) faultPoint('events:reconnected');
      await client.query(this.q.listen);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.isClosed()) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.state = 'listening';
    this.failures = 0;
    if (reconnecting) {
      debug('listening again after a lost connection');
      await this.replay(client);
    }
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private lost(client: Client, error: Error | null): void {
    if (client !== this.client) return; // an old connection, or one still being set up
    this.client = null;
    if (this.state === 'closed') return;
    debug('event connection lost: %s', error?.message ?? 'closed by the server');
    this.state = 'reconnecting';
    this.scheduleReconnect();
  }

  private drop(client: Client, reason: Error): void {
    this.lost(client, reason);
    void client.end().catch(() => undefined);
  }

  private scheduleReconnect(): void {
    if (this.retryTimer !== null || this.state === 'closed') return;
    const delay = Math.min(MAX_RETRY_MS, 50 * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect(true).catch((error: unknown) => {
        debug('reconnecting failed: %O', error);
        if (this.state !== 'closed') this.scheduleReconnect();
      });
    }, delay);
    this.retryTimer.unref();
  }

  /** Delivers the kept events this process missed while it was not listening, then `wake`. */
  private async replay(client: Client): Promise<void> {
    try {
      const { rows } = await client.query<{ id: string; payload: unknown }>(this.q.recentEvents);
      const missed: BackendEvent[] = [];
      for (const row of rows) {
        const checked = checkEvent(row.payload);
        if (!checked.ok) this.refuse(checked.reason, `#${row.id}`);
        else if (!this.seen.has(seenKey(row.id, checked.value))) {
          this.remember(row.id, checked.value, true);
          missed.push(checked.value);
        }
      }
      // resync: what the table no longer keeps (or could not be read) is re-read by the handles.
      this.deliver([...missed, { type: 'resync' }, { type: 'wake' }]);
    } catch (error) {
      debug('replay failed: %O', error);
      this.deliver([{ type: 'resync' }, { type: 'wake' }]);
    }
  }

  private onPayload(payload: string, pid: number): void {
    const parts: (BackendEvent | string)[] = [];
    for (const line of payload.split('\n')) {
      if (line.length === 0) continue;
      const read = readLine(line);
      if (!read.ok) {
        this.refuse(read.reason, line);
      } else if (read.value.kind === 'stored') {
        parts.push(read.value.id);
      } else {
        const checked = checkEvent(read.value.event);
        if (!checked.ok) this.refuse(checked.reason, line);
        else if (read.value.id === null ? !this.isEcho(pid, checked.value) : this.firstNotice(read.value.id, checked.value) && !this.isEcho(pid, checked.value)) {
          parts.push(checked.value);
        }
      }
    }
    if (this.ordered === null && parts.every((part) => typeof part !== 'string')) {
      this.deliver(parts);
      return;
    }
    const previous = this.ordered ?? Promise.resolve();
    const next = previous.then(async () => {
      const stored = await this.readStored(parts.filter((part) => typeof part === 'string'));
      const events: BackendEvent[] = [];
      for (const part of parts) {
        if (typeof part !== 'string') events.push(part);
        else {
          const payload = stored.get(part);
          stored.delete(part); // an id repeated in the notification is delivered once
          const checked = payload === undefined ? null : checkEvent(payload);
          if (checked?.ok === true) events.push(checked.value);
          else if (checked !== null) this.refuse(checked.reason, `#${part}`);
        }
      }
      this.deliver(events);
    });
    this.ordered = next;
    void next.finally(() => {
      if (this.ordered === next) this.ordered = null;
    });
  }

  /**
   * The stored events of a notification's `#<id>` lines, in one query: ids deduplicated, those
   * beyond a bigint dropped, at most MAX_STORED_PER_NOTIFICATION (a notification of junk costs
   * one bounded read, not one per line). A read that fails delivers none of them.
   */
  private async readStored(ids: readonly string[]): Promise<Map<string, unknown>> {
    const wanted = [...new Set(ids)].filter((id) => BigInt(id) <= MAX_BIGINT);
    if (wanted.length === 0) return new Map();
    if (wanted.length > MAX_STORED_PER_NOTIFICATION) {
      this.refuse(`a notification with more than ${MAX_STORED_PER_NOTIFICATION} stored event references`, `#${wanted[0] ?? ''}`);
    }
    try {
      return await this.fetchEvents(wanted.slice(0, MAX_STORED_PER_NOTIFICATION));
    } catch (error) {
      debug('could not read events %s: %O', wanted.slice(0, 10).join(','), error);
      return new Map();
    }
  }

  private refuse(reason: string, line: string): void {
    const error = new CorruptRecordError(`skipped a malformed event message on PostgreSQL channel ${this.channelName}: ${reason} (${excerpt(line)})`, {
      field: 'event message',
    });
    this.problems.report(`events:${reason}`, 'events', error);
  }

  /**
   * An event this process delivered from a call's answer already (consumes the expectation).
   * Otherwise the event is remembered for a while, in case the answer is still on its way.
   */
  private isEcho(pid: number, event: BackendEvent): boolean {
    if (event.type === 'nextTask' || event.type === 'watch') return false; // never in a call's answer
    const key = `${pid}|${JSON.stringify(event)}`;
    if (take(this.echoes, key)) return true;
    count(this.early, key);
    return false;
  }

  /**
   * A numbered event that came by NOTIFY: false when the same event (id and content) was read
   * from the table or returned by a call already. A NOTIFY line is remembered but never stops
   * another one: whoever forged it first must not make the real event be dropped.
   */
  private firstNotice(id: string, event: BackendEvent): boolean {
    if (this.seen.get(seenKey(id, event))?.stored === true) return false;
    this.remember(id, event, false);
    return true;
  }

  /** Remembers a numbered event met; `stored` when it was read from the table or returned by a call. */
  private remember(id: string, event: BackendEvent, stored: boolean): void {
    const key = seenKey(id, event);
    const known = this.seen.get(key);
    const now = Date.now();
    if (known !== undefined) {
      known.stored ||= stored;
      return;
    }
    this.seen.set(key, { at: now, stored });
    // Oldest first (insertion order): drop the expired, and the oldest beyond MAX_SEEN.
    for (const [old, entry] of this.seen) {
      if (now - entry.at < SEEN_TTL_MS && this.seen.size <= MAX_SEEN) break;
      this.seen.delete(old);
    }
  }

  private deliver(events: readonly BackendEvent[]): void {
    if (events.length === 0) return;
    for (const listener of [...this.listeners]) {
      for (const event of events) {
        try {
          listener(event);
        } catch (error) {
          debug('event listener threw: %O', error);
        }
      }
    }
  }
}

type PayloadLine = { kind: 'event'; id: string | null; event: unknown } | { kind: 'stored'; id: string };

const EVENT_ID = /^[0-9]{1,19}$/;

/** One line of a payload: `{json}`, `<id> {json}` or `#<id>` (anything else is refused). */
function readLine(line: string): Checked<PayloadLine> {
  if (line.startsWith('#')) {
    const id = line.slice(1);
    return EVENT_ID.test(id) ? { ok: true, value: { kind: 'stored', id } } : { ok: false, reason: 'a stored event reference without a numeric id' };
  }
  let id: string | null = null;
  let json = line;
  if (!line.startsWith('{')) {
    const space = line.indexOf(' ');
    id = space < 0 ? '' : line.slice(0, space);
    if (!EVENT_ID.test(id)) return { ok: false, reason: 'a line that is neither an event nor a numbered event' };
    json = line.slice(space + 1);
  }
  const parsed = parseJson(json);
  return parsed.ok ? { ok: true, value: { kind: 'event', id, event: parsed.value } } : parsed;
}

/** A numbered event's identity: its id and its content (keys sorted: jsonb and NOTIFY text may order them differently). */
function seenKey(id: string, event: BackendEvent): string {
  const fields = Object.entries(event).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${id} ${JSON.stringify(fields)}`;
}

/** Adds one to a counted key, dropping entries older than ECHO_TTL_MS. */
function count(counts: Map<string, { count: number; at: number }>, key: string): void {
  const now = Date.now();
  const entry = counts.get(key);
  if (entry === undefined) counts.set(key, { count: 1, at: now });
  else entry.count++;
  // Oldest first (insertion order): stop at the first entry still young.
  for (const [k, e] of counts) {
    if (now - e.at <= ECHO_TTL_MS) break;
    counts.delete(k);
  }
}

/** Takes one from a counted key; false when there was none. */
function take(counts: Map<string, { count: number; at: number }>, key: string): boolean {
  const entry = counts.get(key);
  if (entry === undefined) return false;
  if (--entry.count === 0) counts.delete(key);
  return true;
}
