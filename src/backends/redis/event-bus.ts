/**
 * Events between processes: one pub/sub channel per prefix, carrying JSON arrays of
 * BackendEvents. Scripts publish step/workflow/watch events in the same atomic call as the
 * transition; `work` events are published right after the runnable hint they point to;
 * nextTask events are published with the outcomes they precede. Every process, this one
 * included, receives its events from Redis only, so each is delivered exactly once; the one
 * exception are the `work` events a complete() returned to this process's engine, which
 * come back marked with this process's origin and are not delivered twice (a second
 * delivery only made the engine look for runnable steps again, for nothing).
 *
 * After the event connection reconnects, events published meanwhile are gone: the bus then
 * tells nodes to look for work (`wake`) and asks the backend to re-announce the end of
 * workflows this process follows that finished while it was not listening.
 */
import createDebug from 'debug';
import { CorruptRecordError } from '../../errors.js';
import type { BackendEvent, EventListener } from '../backend.js';
import { checkEvents, excerpt, kindOf, parseJson } from '../event-messages.js';
import type { ProblemLog } from '../problem-log.js';
import type { RedisLink } from './connection.js';

const debug = createDebug('deflow:redis:events');

export class EventBus {
  private readonly listeners = new Set<EventListener>();

  constructor(
    private readonly link: RedisLink,
    private readonly channel: string,
    /** Messages marked with this origin were already handed to this process's engine. */
    private readonly origin: string,
    /** Sees every incoming event before listeners do (backend bookkeeping). */
    private readonly observe: (event: BackendEvent) => void,
    private readonly problems: ProblemLog,
  ) {
    link.client.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
  }

  async open(): Promise<void> {
    await this.link.open();
    await this.link.client.subscribe(this.channel);
  }

  /**
   * Resolves once the server confirms the subscription (after a reconnect, ioredis subscribes
   * again without waiting for the answer): what is read after this, and everything published
   * after it, is seen.
   */
  async confirmSubscribed(): Promise<void> {
    await this.link.client.subscribe(this.channel);
  }

  close(): void {
    this.listeners.clear();
    this.link.close();
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Delivers events that did not come through the channel (a repair after a reconnect). */
  deliver(events: readonly BackendEvent[]): void {
    for (const event of events) {
      this.observe(event);
      for (const listener of [...this.listeners]) {
        try {
          listener(event);
        } catch (error) {
          debug('event listener threw: %O', error);
        }
      }
    }
  }

  /**
   * A message is a JSON array of events, or { origin, events } (see hint.lua). Anyone with
   * access to the server can publish here: whatever else arrives is skipped and reported.
   */
  private receive(message: string): void {
    const parsed = parseJson(message);
    if (!parsed.ok) return this.refuse(parsed.reason, message);
    let value = parsed.value;
    if (!Array.isArray(value)) {
      if (typeof value !== 'object' || value === null) return this.refuse(`the message is ${kindOf(value)}`, message);
      const { origin, events } = value as { origin?: unknown; events?: unknown };
      if (typeof origin !== 'string') return this.refuse('an object without an origin', message);
      if (origin === this.origin) return;
      value = events;
    }
    const { events, refused } = checkEvents(value);
    for (const reason of refused) this.refuse(reason, message);
    this.deliver(events);
  }

  private refuse(reason: string, message: string): void {
    const error = new CorruptRecordError(`skipped a malformed event message on Redis channel ${this.channel}: ${reason} (${excerpt(message)})`, {
      field: 'event message',
    });
    this.problems.report(`events:${reason}`, 'events', error);
  }
}
