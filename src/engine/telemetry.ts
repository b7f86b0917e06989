/**
 * What this process's node tells observers about its work (metrics, tracing), one place for
 * both. Observers are process-wide (a server and the node it serves share one process) and
 * optional: with none and no OpenTelemetry SDK registered, a job costs a set-size check and a
 * no-op span.
 *
 * Tracing goes through @opentelemetry/api only: the application brings (or not) its own SDK.
 * Spans of one workflow share one trace, whose id is derived from the workflow id, so the spans
 * every node writes for it line up without passing context between processes.
 */
import { createHash } from 'node:crypto';
import { SpanStatusCode, TraceFlags, context, trace } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import type { Backend, ClaimedJob, JobOutcome, RunnableStep, WorkflowFinishedEvent } from '../backends/backend.js';

export type JobEnd = 'succeeded' | 'retry' | 'failed';

/** What an observer hears; every method is optional and must not throw (what it throws is dropped). */
export interface JobObserver {
  /** An attempt of a job starts on this node. */
  jobStarted?(step: RunnableStep, job: ClaimedJob): void;
  /** That attempt ended; `tookMs` is its run time on this node. */
  jobFinished?(step: RunnableStep, job: ClaimedJob, end: JobEnd, tookMs: number): void;
  /** A claim round trip came back (with `jobs` jobs) after `tookMs`. */
  claimed?(step: RunnableStep, jobs: number, tookMs: number): void;
  /** This node's watchdog took back `jobs` jobs whose node's lease had expired. */
  leasesRecovered?(jobs: number): void;
  /** An event sent from this process (signal, global event, step.emit) reached `workflows` workflows. */
  eventsDelivered?(name: string, workflows: number): void;
}

const OBSERVERS = Symbol.for('deflow.jobObservers');
const shared = globalThis as typeof globalThis & { [OBSERVERS]?: Set<JobObserver> };
const observers = (shared[OBSERVERS] ??= new Set<JobObserver>());

/** Adds an observer of this process's jobs; returns the function that removes it. */
export function observeJobs(observer: JobObserver): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

function tell(call: (observer: JobObserver) => void): void {
  for (const observer of observers) {
    try {
      call(observer);
    } catch {
      // an observer's failure is its own: the job goes on
    }
  }
}

/** Tells the observers of lease recoveries (the lease keeper calls it). */
export function noteLeasesRecovered(jobs: number): void {
  if (observers.size > 0) tell((observer) => observer.leasesRecovered?.(jobs));
}

/** Tells the observers of an event delivered (the api's senders call it). */
export function noteEventsDelivered(name: string, workflows: number): void {
  if (observers.size > 0 && workflows > 0) tell((observer) => observer.eventsDelivered?.(name, workflows));
}

const tracer = trace.getTracer('deflow');

/** The trace a workflow's spans belong to: derived from its id, the same on every node. */
function workflowContext(workflowId: string): ReturnType<typeof context.active> {
  const digest = createHash('sha256').update(`deflow:${workflowId}`).digest('hex');
  return trace.setSpanContext(context.active(), {
    traceId: digest.slice(0, 32),
    spanId: digest.slice(32, 48),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
}

function stepAttributes(step: RunnableStep): Record<string, string> {
  return { 'deflow.workflow.id': step.workflowId, 'deflow.workflow.name': step.workflowName, 'deflow.step.id': step.stepId, 'deflow.step.name': step.name };
}

/** A step's time on this node (one runner), parent of its job attempts' spans. */
export class StepTelemetry {
  private readonly span: Span;
  private readonly parent: ReturnType<typeof context.active>;
  private ended = false;

  constructor(private readonly step: RunnableStep) {
    this.span = tracer.startSpan('deflow.step', { attributes: stepAttributes(step) }, workflowContext(step.workflowId));
    this.parent = trace.setSpan(context.active(), this.span);
  }

  claimed(jobs: number, tookMs: number): void {
    if (observers.size > 0) tell((observer) => observer.claimed?.(this.step, jobs, tookMs));
  }

  /** Starts one attempt; the returned function ends it. */
  attempt(job: ClaimedJob): (outcome: JobOutcome, tookMs: number) => void {
    // No SDK, or a sampler that dropped the step: its attempts would not be recorded either.
    if (!this.span.isRecording()) {
      if (observers.size > 0) tell((observer) => observer.jobStarted?.(this.step, job));
      return (outcome, tookMs) => {
        if (observers.size > 0) tell((observer) => observer.jobFinished?.(this.step, job, outcome.status, tookMs));
      };
    }
    const span = tracer.startSpan(
      `deflow.${job.kind}`,
      { attributes: { ...stepAttributes(this.step), 'deflow.job.seq': job.seq, 'deflow.job.attempt': job.failedCount + 1 } },
      this.parent,
    );
    if (observers.size > 0) tell((observer) => observer.jobStarted?.(this.step, job));
    return (outcome, tookMs) => {
      span.setAttribute('deflow.job.outcome', outcome.status);
      if (outcome.status !== 'succeeded') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.message });
      span.end();
      if (observers.size > 0) tell((observer) => observer.jobFinished?.(this.step, job, outcome.status, tookMs));
    };
  }

  /** The runner is dropped: this node is done with the step for now. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.end();
  }
}

/**
 * A workflow ended in a completion of this node (the one node whose round trip finished it):
 * writes its `deflow.workflow` span, from its start to its end as the store has them. Only when
 * tracing records: the workflow is read for its times, never otherwise.
 */
export function traceWorkflowEnd(backend: Backend, event: WorkflowFinishedEvent): void {
  const parent = workflowContext(event.workflowId);
  // Whether an SDK records spans of this trace: a probe, dropped unended (never exported).
  if (!tracer.startSpan('deflow.workflow.probe', {}, parent).isRecording()) return;
  backend.getWorkflow(event.workflowId).then(
    (workflow) => {
      if (workflow === null) return;
      const span = tracer.startSpan(
        'deflow.workflow',
        { startTime: workflow.startedAt ?? workflow.createdAt, attributes: { 'deflow.workflow.id': workflow.id, 'deflow.workflow.name': workflow.name, 'deflow.workflow.status': workflow.status } },
        parent,
      );
      if (workflow.status !== 'succeeded') span.setStatus({ code: SpanStatusCode.ERROR, message: workflow.error?.message ?? workflow.status });
      span.end(workflow.finishedAt ?? undefined);
    },
    () => undefined, // a trace without its workflow span; the work is unaffected
  );
}
