/**
 * Events between workflows on Redis: receive.lua stores an event for one workflow and starts
 * the steps it completes the events of, in one script; a global event is that script on every
 * unfinished workflow (the `active` index), pipelined. Exactly once per workflow and id.
 */
import type { BackendEvent, NewEvent } from '../backend.js';
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

  async broadcastEvent(event: NewEvent): Promise<{ delivered: number }> {
    // Every unfinished workflow. (Routing by business key narrows this target list.)
    const ids = await this.core.guard(this.core.client.zrange(this.core.keys.global.active, 0, -1), 'listing running workflows');
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
