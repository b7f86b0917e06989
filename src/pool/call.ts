/**
 * One call on its way through the farm: queued, running on a worker, or settled. `W` is the
 * worker type (PoolWorker), and the queue is typed by what leaving it takes: so this record
 * imports neither the worker nor the queue that hold it.
 */

export class Call<W = unknown> {
  // Links for CallQueue (the farm queue, or a worker's queue of broadcast calls).
  prev: Call<W> | null = null;
  next: Call<W> | null = null;
  /** The CallQueue it waits in, typed by what leaving it takes. */
  queue: { remove(call: Call<W>): void } | null = null;

  /** Worker the call is running on, if any. */
  worker: W | null = null;
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
    readonly pinned: W | null,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}
