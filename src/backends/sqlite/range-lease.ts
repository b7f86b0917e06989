/**
 * A range lease: fresh tasks [lo, hi] of one step leased to one node in a single row, with a
 * bit per task that is set once its outcome was recorded (or the task left the range). A set
 * bit makes any later outcome for that task stale, so each task is settled at most once.
 */

/** Widest range one lease covers: bounds the search for a job's batch of results. */
export const MAX_LEASE_SPAN = 4096;

export interface RangeLease {
  id: number;
  owner: number;
  step_pk: number;
  lo: number;
  hi: number;
  settled: Buffer;
}

export function noneSettled(lo: number, hi: number): Buffer {
  return Buffer.alloc(Math.ceil((hi - lo + 1) / 8));
}

export function covers(lease: RangeLease, id: number): boolean {
  return id >= lease.lo && id <= lease.hi;
}

export function isSettled(lease: RangeLease, id: number): boolean {
  const bit = id - lease.lo;
  return ((lease.settled[bit >> 3] ?? 0) & (1 << (bit & 7))) !== 0;
}

export function markSettled(lease: RangeLease, id: number): void {
  const bit = id - lease.lo;
  lease.settled[bit >> 3] = (lease.settled[bit >> 3] ?? 0) | (1 << (bit & 7));
}

/** Job ids of the range whose outcome was not recorded yet. */
export function unsettledIds(lease: RangeLease): number[] {
  const ids: number[] = [];
  for (let id = lease.lo; id <= lease.hi; id++) if (!isSettled(lease, id)) ids.push(id);
  return ids;
}
