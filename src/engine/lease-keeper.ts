/**
 * Keeps the node alive in the backend and cleans up after dead ones:
 * - heartbeat every leaseMs / 3, extending the lease that covers every job the node holds;
 * - every `checkProcessQueueInterval`, take jobs back from nodes whose lease expired
 *   (any node may do it; the backend makes it happen once);
 * - now and then, remove finished workflows whose retention ran out.
 */
import createDebug from 'debug';
import type { Backend } from '../backends/backend.js';
import type { Clock, ClockTimer } from '../clock.js';

const debug = createDebug('deflow:engine:lease');

export interface LeaseKeeperOptions {
  nodeId: string;
  leaseMs: number;
  recoverIntervalMs: number;
  sweepIntervalMs: number;
  /** Sets the round timers and tells how long ago the last heartbeat went through. */
  clock: Clock;
  /** Job ids the node holds right now, or undefined while that cannot be known (a claim in flight). */
  heldJobs(): readonly string[] | undefined;
  onDeclaredDead(): void;
  /** A heartbeat went through after the lease had gone stale (the node was frozen or cut off). */
  onRenewed(): void;
  onRecovered(count: number): void;
  onError(error: unknown, during: string): void;
}

export class LeaseKeeper {
  private readonly timers: ClockTimer[] = [];
  private readonly clock: Clock;
  private reconcileNext = false;
  private busy = new Set<string>();
  private lastAliveAt: number;

  constructor(
    private readonly backend: Backend,
    private readonly options: LeaseKeeperOptions,
  ) {
    this.clock = options.clock;
    this.lastAliveAt = this.clock.monotonic();
  }

  /**
   * False once the last heartbeat that went through is older than the lease: other nodes may
   * already have taken this node's jobs, so it should not start more until it hears back.
   */
  get fresh(): boolean {
    // 10% short of the lease, for drift between this clock and the backend's.
    return this.clock.monotonic() - this.lastAliveAt < this.options.leaseMs * 0.9;
  }

  start(): void {
    this.lastAliveAt = this.clock.monotonic();
    // Not unref'd: a node with heartbeats to send keeps its process alive until it stops.
    const every = (ms: number, name: string, task: () => Promise<void>): void => {
      const timer = this.clock.every(ms, () => {
        if (this.busy.has(name)) return; // the previous round is still waiting on the backend
        this.busy.add(name);
        task()
          .catch((error: unknown) => {
            if (name === 'heartbeat') this.reconcileNext = true;
            this.options.onError(error, name);
          })
          .finally(() => this.busy.delete(name));
      });
      this.timers.push(timer);
    };
    every(Math.max(50, Math.floor(this.options.leaseMs / 3)), 'heartbeat', () => this.beat());
    if (this.options.recoverIntervalMs > 0) {
      every(this.options.recoverIntervalMs, 'recovery', () => this.recover());
      every(this.options.sweepIntervalMs, 'retention', () => this.sweep());
    }
  }

  /** Asks the next heartbeat to reconcile held jobs (a round trip failed ambiguously). */
  requestReconcile(): void {
    this.reconcileNext = true;
  }

  stop(): void {
    for (const timer of this.timers) timer.cancel();
    this.timers.length = 0;
  }

  private async beat(): Promise<void> {
    const held = this.reconcileNext ? this.options.heldJobs() : undefined;
    const wasFresh = this.fresh;
    // The backend dates the lease when it receives the heartbeat, after it was sent: counting
    // from the send keeps this node's view on the safe side of the backend's.
    const sentAt = this.clock.monotonic();
    const { alive } = await this.backend.heartbeat(this.options.nodeId, this.options.leaseMs, held);
    if (held !== undefined) this.reconcileNext = false;
    if (!alive) {
      this.options.onDeclaredDead();
      return;
    }
    this.lastAliveAt = sentAt;
    if (!wasFresh) this.options.onRenewed();
  }

  private async recover(): Promise<void> {
    const { recovered, nodesRemoved } = await this.backend.recoverExpired(500);
    if (recovered > 0 || nodesRemoved > 0) debug('recovered %d jobs from %d dead nodes', recovered, nodesRemoved);
    if (recovered > 0) this.options.onRecovered(recovered);
  }

  private async sweep(): Promise<void> {
    const removed = await this.backend.sweep(200);
    if (removed > 0) debug('retention removed %d finished workflows', removed);
  }
}
