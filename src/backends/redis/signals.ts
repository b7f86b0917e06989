/**
 * Events between workflows on Redis: receive.lua stores an event for one workflow and starts
 * the steps it completes the events of, in one script; a global event is that script on every
 * unfinished workflow (the `active` index; with a business key, the `bykey` index), pipelined.
 * Exactly once per workflow and id.
 */
import type { BackendEvent, BroadcastTarget, NewEvent } from '../backend.js';
import type { EventRecord } from '../records.js';
import type { RedisCore } from './core.js';
import { list, text } from './records.js';

/** Workflows a global event is sent to per pipelined write. */
const BROADCAST_BATCH = 500;

export class Signals {
  constructor(private readonly core: RedisCore) {}

  async deliverEvent(workflowId: string, event: NewEvent): Promise<{ delivered: boolean; events: BackendEvent[] }> {
    const reply = await this.core.runWorkflow('receive', workflowId, [event.id, event.name, event.dataJson], 'delivering an event');
    // The work events go to this process's nodes at once (no pub/sub round trip; the script
    // published the public ones), and to the others with the hints, flushed now.
    const { events, tail } = this.core.settle(workflowId, reply, false);
    this.core.bus.deliver(events.filter((e) => e.type === 'work'));
    await this.core.hints.flush();
    return { delivered: Number(tail[0]) === 1, events };
  }

  async broadcastEvent(event: NewEvent, target: BroadcastTarget = {}): Promise<{ delivered: number }> {
    const ids = await this.targets(target);
    let delivered = 0;
    for (let i = 0; i < ids.length; i += BROADCAST_BATCH) {
      const slice = ids.slice(i, i + BROADCAST_BATCH);
      const replies = await this.core.batch(
        slice.map((id) => this.core.workflowCall('receive', id, [event.id, event.name, event.dataJson])),
        'delivering a global event',
      );
      slice.forEach((id, k) => {
        const { tail } = this.core.settle(id, list(replies[k]));
        if (Number(tail[0]) === 1) delivered++;
      });
    }
    await this.core.hints.flush();
    return { delivered };
  }

  /**
   * The workflows a global event goes to: every unfinished one (the `active` index), or those
   * with the target's business key (the `bykey` index) that are still in `active`. receive.lua
   * refuses a finished workflow anyway; the checks here keep the count to the right ones
   * (a `bykey` entry left by a workflow that is gone, or whose id now holds another key).
   */
  private async targets(target: BroadcastTarget): Promise<string[]> {
    const g = this.core.keys.global;
    if (target.key === undefined) return this.core.guard(this.core.client.zrange(g.active, 0, -1), 'listing running workflows');
    const key = target.key;
    const members = (await this.core.guard(
      this.core.client.call('ZRANGE', g.bykey, `[${key}\u0000`, `(${key}\u0001`, 'BYLEX'),
      'listing workflows by key',
    )) as string[];
    const ids = members.map((member) => member.slice(member.indexOf(':', key.length + 1) + 1));
    if (ids.length === 0) return [];
    const [scores, keys] = await this.core.guard(
      Promise.all([this.core.client.call('ZMSCORE', g.active, ...ids) as Promise<(string | null)[]>, this.core.client.hmget(g.wkey, ...ids)]),
      'listing workflows by key',
    );
    return ids.filter((id, i) => scores[i] !== null && keys[i] === key);
  }

  async getEvents(workflowId: string): Promise<EventRecord[]> {
    const key = this.core.keys.workflow(workflowId)[12] ?? '';
    const hash = await this.core.guard(this.core.client.hgetall(key), 'reading events');
    const out: { seq: number; record: EventRecord }[] = [];
    for (const [field, value] of Object.entries(hash)) {
      if (!field.startsWith('e:')) continue;
      const seq = Number(field.slice(2));
      let head: { id?: unknown; name?: unknown; at?: unknown };
      try {
        head = JSON.parse(value) as typeof head;
      } catch {
        continue; // not written by deflow: skipped
      }
      const record = { id: String(head.id), name: String(head.name), at: Number(head.at), dataJson: text(hash[`d:${field.slice(2)}`] ?? 'null') };
      out.push({ seq, record });
    }
    return out.sort((a, b) => a.seq - b.seq).map((entry) => entry.record);
  }
}
