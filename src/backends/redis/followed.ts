/**
 * Workflows whose end handles in this process wait for (bounded), and the repairs that keep
 * them from waiting forever when their `workflow` event cannot come:
 *
 * - The event connection reconnected: events published meanwhile are lost. Once both
 *   connections are ready again (the command one may come back later than the event one),
 *   a `resync` tells handles to re-read their workflows (steps that finished meanwhile), and
 *   the followed workflows are read again: those that finished are announced again, and so
 *   are those that no longer exist (Redis restarted without persistence, or they were
 *   removed), as 'cancelled', so their handles re-read them, find nothing and reject with a
 *   NotFoundError. A repair that fails is retried until it goes through.
 * - The backend stopped for good: every followed workflow is announced, so its handles re-read
 *   it and get the backend's error.
 *
 * `missed` says a repair is owed; it is cleared when one starts and set again when it fails
 * or when the event connection drops and returns meanwhile. One repair runs at a time.
 */
import createDebug from 'debug';
import type { RedisClient } from './connection.js';
import type { BackendEvent } from '../backend.js';
import type { RedisLink } from './connection.js';
import type { KeySpace } from './keys.js';

const debug = createDebug('deflow:redis:events');

/** Workflows whose end this process waits for, kept to repair missed events (bounded). */
const FOLLOW_LIMIT = 10_000;
/** Pause before retrying a repair that failed (its connection dropped again). */
const REPAIR_RETRY_MS = 500;

export class Followed {
  private readonly ids = new Set<string>();
  private missed = false;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: KeySpace,
    private readonly links: readonly RedisLink[],
    private readonly deliver: (events: BackendEvent[]) => void,
  ) {}

  /** Remembers that a handle here may wait for this workflow's end. */
  add(workflowId: string): void {
    if (this.ids.has(workflowId)) return;
    this.ids.add(workflowId);
    if (this.ids.size > FOLLOW_LIMIT) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
  }

  /** Its end was announced: nothing more to repair for it. */
  delete(workflowId: string): void {
    this.ids.delete(workflowId);
  }

  /** The event connection came back: events may have been missed. */
  eventsReconnected(): void {
    this.missed = true;
    this.schedule(0);
  }

  /** A connection became ready: an owed repair may run now. */
  linkReady(): void {
    if (this.missed) this.schedule(0);
  }

  /** The backend stopped for good: handles re-read (and get its error) instead of waiting. */
  abandon(): void {
    this.stop();
    this.deliver([...this.ids].map((workflowId): BackendEvent => ({ type: 'workflow', workflowId, status: 'running' })));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, delayMs);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    // Not both ready: the next linkReady() runs it.
    if (!this.missed || this.running || this.stopped || this.links.some((link) => link.state !== 'ready')) return;
    this.missed = false;
    this.running = true;
    try {
      await this.repairNow();
    } catch (error) {
      debug('repair after reconnect failed, retrying: %O', error);
      this.missed = true;
      this.schedule(REPAIR_RETRY_MS);
    } finally {
      this.running = false;
    }
    if (this.missed) this.schedule(0);
  }

  private async repairNow(): Promise<void> {
    const ids = [...this.ids];
    const statuses = await Promise.all(ids.map((id) => this.client.hget(this.keys.workflow(id)[0] ?? '', 'status')));
    // resync: handles re-read their workflows (steps that finished meanwhile); wake: nodes look for work.
    const events: BackendEvent[] = [{ type: 'wake' }, { type: 'resync' }];
    ids.forEach((workflowId, i) => {
      const status = statuses[i];
      if (status === 'succeeded' || status === 'failed' || status === 'cancelled') {
        events.push({ type: 'workflow', workflowId, status });
      } else if (status === null) {
        events.push({ type: 'workflow', workflowId, status: 'cancelled' });
      }
    });
    this.deliver(events);
  }
}
