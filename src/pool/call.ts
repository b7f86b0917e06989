/** One call on its way through the farm: queued, running on a worker, or settled. */
import type { CallQueue } from './call-queue.js';
import type { PoolWorker } from './worker.js';

export class Call {
  // Links for CallQueue (the farm queue, or a worker's queue of broadcast calls).
  prev: Call | null = null;
  next: Call | null = null;
  queue: CallQueue | null = null;

  /** Worker the call is running on, if any. */
  worker: PoolWorker | null = null;
  /** Encoded arguments, kept so a retry does not encode again. */
  payload: unknown = undefined;
  encoded = false;
  /** Sends to a worker so far, and retries used. */
  attempts = 0;
  retries = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  settled = false;

  constructor(
    readonly id: number,
    readonly method: string,
    readonly args: unknown[],
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    /** Broadcast calls belong to one worker and are never moved to another. */
    readonly pinned: PoolWorker | null,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}
