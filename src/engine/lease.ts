/** The part of a claimed job that identifies its lease when reporting back to the backend. */
import type { ClaimedJob, JobLease } from '../backends/backend.js';

export function leaseOf(job: ClaimedJob): JobLease {
  return { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token };
}
