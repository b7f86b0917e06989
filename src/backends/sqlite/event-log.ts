/**
 * Events between processes sharing one database file. In-process subscribers get events
 * right after the commit that produced them. Other processes notice commits through
 * `PRAGMA data_version` (a cheap shared-memory check), then read new rows of the `events`
 * table; every change also wakes idle nodes so they look for runnable steps.
 */
import createDebug from 'debug';
import { CorruptRecordError } from '../../errors.js';
import type { BackendEvent, EventListener } from '../backend.js';
import { checkEvent, parseJson } from '../event-messages.js';
import type { ProblemLog } from '../problem-log.js';
import type { SqliteDatabase } from './connection.js';
import type { Statements } from './statements.js';

const debug = createDebug('deflow:sqlite:events');

/** Events other processes need; `work` is covered by the wake-up every commit triggers. */
const SHARED_TYPES = new Set<BackendEvent['type']>(['step', 'workflow', 'nextTask', 'watch']);
/** Rows older than this are pruned: a process polling at most every second has read them long ago. */
const EVENT_TTL_MS = 60_000;

export class EventLog {
  private readonly listeners = new Set<EventListener>();
  private timer: NodeJS.Timeout | null = null;
  private cursor = 0;
  private dataVersion = -1;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly q: Statements,
    private readonly origin: string,
    private readonly pollMs: number,
    private readonly problems: ProblemLog,
  ) {}

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    if (this.timer === null) this.startPolling();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopPolling();
    };
  }

  /** Writes the events other processes need; call inside the transaction that produced them. */
  persist(events: readonly BackendEvent[], now: number): void {
    for (const event of events) {
      if (SHARED_TYPES.has(event.type)) this.q.insertEvent.run(this.origin, JSON.stringify(event), now);
    }
  }

  /** Delivers events to this process's subscribers; call after the commit. */
  deliver(events: readonly BackendEvent[]): void {
    if (events.length === 0 || this.listeners.size === 0) return;
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

  prune(now: number): void {
    this.q.pruneEvents.run(now - EVENT_TTL_MS);
  }

  close(): void {
    this.listeners.clear();
    this.stopPolling();
  }

  private startPolling(): void {
    this.cursor = (this.q.lastEventId.get() as { id: number }).id;
    this.dataVersion = this.readDataVersion();
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.timer.unref();
  }

  private stopPolling(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  private poll(): void {
    if (!this.db.open) return;
    let version: number;
    try {
      version = this.readDataVersion();
    } catch (error) {
      debug('data_version check failed: %O', error);
      return;
    }
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    const incoming: BackendEvent[] = [{ type: 'wake' }];
    let rows: { id: number; origin: string; payload: string }[];
    do {
      rows = this.q.eventsAfter.all(this.cursor) as { id: number; origin: string; payload: string }[];
      for (const row of rows) {
        this.cursor = row.id;
        if (row.origin !== this.origin) this.read(row, incoming);
      }
    } while (rows.length === 1000);
    this.deliver(incoming);
  }

  /** A row another process wrote; one deflow did not write (its shape is wrong) is skipped. */
  private read(row: { id: number; payload: unknown }, into: BackendEvent[]): void {
    const parsed = typeof row.payload === 'string' ? parseJson(row.payload) : { ok: false as const, reason: 'not text' };
    const checked = parsed.ok ? checkEvent(parsed.value) : parsed;
    if (checked.ok) {
      into.push(checked.value);
      return;
    }
    const error = new CorruptRecordError(`skipped a malformed row ${row.id} of the events table: ${checked.reason}`, { field: 'event message' });
    this.problems.report(`events:${checked.reason}`, 'events', error);
  }
}
