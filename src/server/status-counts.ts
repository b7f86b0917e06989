/**
 * Workflows by status, for the dashboard's counts and the `deflow_workflows` gauge: the
 * backend's exact count (countWorkflows), at most once per `maxAgeMs` (concurrent askers share
 * one count), so a dashboard polling it does not make the store count on every request.
 */
import type { Backend, WorkflowStatus } from '../backends/backend.js';
import { WORKFLOW_STATUSES } from './views.js';

export interface Counts {
  counts: Record<WorkflowStatus, number>;
  /** Workflows counted (the sum). */
  counted: number;
  /** Always true: the count is exact (kept for clients of the earlier, capped count). */
  complete: boolean;
  /** When it was counted (epoch ms). */
  at: number;
}

export class StatusCounts {
  private last: Counts | null = null;
  private running: Promise<Counts> | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly maxAgeMs: number,
  ) {}

  get(): Promise<Counts> {
    if (this.last !== null && Date.now() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last);
    this.running ??= this.count().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async count(): Promise<Counts> {
    const stored = await this.backend.countWorkflows({});
    const counts = Object.fromEntries(WORKFLOW_STATUSES.map((status) => [status, stored[status] ?? 0])) as Record<WorkflowStatus, number>;
    const counted = Object.values(counts).reduce((sum, n) => sum + n, 0);
    this.last = { counts, counted, complete: true, at: Date.now() };
    return this.last;
  }
}
