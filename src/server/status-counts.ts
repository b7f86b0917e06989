/**
 * Workflows by status, for the dashboard's counts and the `deflow_workflows` gauge. The
 * contract has no count: the newest `cap` workflows are paged through and counted, at most once
 * per `maxAgeMs` (concurrent askers share one count). `complete` says whether that was all.
 */
import type { Backend, WorkflowRecord, WorkflowStatus } from '../backends/backend.js';
import { WORKFLOW_STATUSES } from './views.js';

export interface Counts {
  counts: Record<WorkflowStatus, number>;
  /** Workflows looked at. */
  counted: number;
  /** False when there were more than `cap`: the counts are of the newest `cap`. */
  complete: boolean;
  /** When it was counted (epoch ms). */
  at: number;
}

const PAGE = 500;

export class StatusCounts {
  private last: Counts | null = null;
  private running: Promise<Counts> | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly cap: number,
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
    const counts = Object.fromEntries(WORKFLOW_STATUSES.map((status) => [status, 0])) as Record<WorkflowStatus, number>;
    let counted = 0;
    let before: { createdAt: number; id: string } | undefined;
    for (;;) {
      const limit = Math.min(PAGE, this.cap + 1 - counted);
      const page: WorkflowRecord[] = await this.backend.listWorkflows({ limit, ...(before === undefined ? {} : { before }) });
      for (const workflow of page) {
        if (counted === this.cap) {
          this.last = { counts, counted, complete: false, at: Date.now() };
          return this.last;
        }
        counts[workflow.status] = (counts[workflow.status] ?? 0) + 1;
        counted++;
      }
      const tail = page[page.length - 1];
      if (page.length < limit || tail === undefined) break;
      before = { createdAt: tail.createdAt, id: tail.id };
    }
    this.last = { counts, counted, complete: true, at: Date.now() };
    return this.last;
  }
}
