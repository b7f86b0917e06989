/**
 * FIFO of calls waiting for a worker. Intrusive doubly linked list: push, unshift, shift and
 * remove (an aborted or timed-out call leaving the middle) are all O(1), with no array shifting.
 */
import type { Call } from './call.js';

/** `W`: the worker type of its calls. */
export class CallQueue<W = unknown> {
  private head: Call<W> | null = null;
  private tail: Call<W> | null = null;
  size = 0;

  push(call: Call<W>): void {
    call.queue = this;
    call.prev = this.tail;
    call.next = null;
    if (this.tail === null) this.head = call;
    else this.tail.next = call;
    this.tail = call;
    this.size++;
  }

  /** Retries go first: they have waited longest. */
  unshift(call: Call<W>): void {
    call.queue = this;
    call.prev = null;
    call.next = this.head;
    if (this.head === null) this.tail = call;
    else this.head.prev = call;
    this.head = call;
    this.size++;
  }

  shift(): Call<W> | null {
    const call = this.head;
    if (call !== null) this.remove(call);
    return call;
  }

  remove(call: Call<W>): void {
    if (call.queue !== this) return;
    if (call.prev === null) this.head = call.next;
    else call.prev.next = call.next;
    if (call.next === null) this.tail = call.prev;
    else call.next.prev = call.prev;
    call.prev = call.next = null;
    call.queue = null;
    this.size--;
  }

  /** Empties the queue, handing each call to `fn` (used when failing everything at once). */
  drainTo(fn: (call: Call<W>) => void): void {
    for (let call = this.shift(); call !== null; call = this.shift()) fn(call);
  }
}
