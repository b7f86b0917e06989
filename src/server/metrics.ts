/**
 * Prometheus metrics (prom-client, in a registry of the server's own, so an app's registry is
 * left alone). Store-wide gauges are read from the backend at scrape time; job counters and
 * histograms count what THIS process's node ran (each worker exposes its own; sum them in
 * Prometheus).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Backend } from '../backends/backend.js';
import { queueOf } from '../backends/policy.js';
import { observeJobs } from '../api/telemetry.js';
import type { StatusCounts } from './status-counts.js';

export interface ServerMetrics {
  registry: Registry;
  /** Stops counting this process's jobs. */
  close(): void;
}

export function createMetrics(backend: Backend, counts: StatusCounts): ServerMetrics {
  const registry = new Registry();
  new Gauge({
    name: 'deflow_workflows',
    help: 'Workflows in the store by status (exact; counted at most every few seconds)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const result = await counts.get();
      for (const [status, n] of Object.entries(result.counts)) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'deflow_live_nodes',
    help: 'Nodes whose lease has not expired',
    registers: [registry],
    async collect() {
      const [nodes, now] = await Promise.all([backend.listNodes(), backend.now()]);
      this.set(nodes.filter((node) => node.leaseExpiresAt > now).length);
    },
  });
  const queueCounts = backend.queueCounts?.bind(backend);
  if (queueCounts !== undefined) {
    new Gauge({
      name: 'deflow_queue_jobs',
      help: 'Jobs of running steps by queue (step option queue) and state: ready (claimable now) or leased (held by a node; range leases counted whole)',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset(); // a queue that emptied leaves the series
        for (const { queue, ready, leased } of await queueCounts()) {
          this.set({ queue, state: 'ready' }, ready);
          this.set({ queue, state: 'leased' }, leased);
        }
      },
    });
  }
  const labelNames = ['workflow', 'step', 'queue'] as const;
  const started = new Counter({ name: 'deflow_tasks_started_total', help: 'Task attempts started by this process', labelNames, registers: [registry] });
  const succeeded = new Counter({ name: 'deflow_tasks_succeeded_total', help: 'Task attempts that succeeded in this process', labelNames, registers: [registry] });
  const failed = new Counter({
    name: 'deflow_tasks_failed_total',
    help: 'Task attempts that failed in this process (final="false": it will be tried again)',
    labelNames: [...labelNames, 'final'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'deflow_task_duration_seconds',
    help: 'Run time of task attempts in this process',
    labelNames: [...labelNames, 'outcome'],
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 120],
    registers: [registry],
  });
  const claim = new Histogram({
    name: 'deflow_claim_latency_seconds',
    help: 'Round trip of claim calls made by this process',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2],
    registers: [registry],
  });
  const recovered = new Counter({ name: 'deflow_lease_recoveries_total', help: "Jobs this process's watchdog took back from nodes whose lease expired", registers: [registry] });
  const events = new Counter({
    name: 'deflow_events_delivered_total',
    help: 'Workflows reached by events sent from this process (signals, global events, step.emit)',
    labelNames: ['event'],
    registers: [registry],
  });
  const stop = observeJobs({
    leasesRecovered(jobs) {
      recovered.inc(jobs);
    },
    eventsDelivered(name, workflows) {
      events.inc({ event: name }, workflows);
    },
    jobStarted(step, job) {
      if (job.kind === 'task') started.inc({ workflow: step.workflowName, step: step.name, queue: queueOf(step.options) });
    },
    jobFinished(step, job, end, tookMs) {
      if (job.kind !== 'task') return;
      const labels = { workflow: step.workflowName, step: step.name, queue: queueOf(step.options) };
      if (end === 'succeeded') succeeded.inc(labels);
      else failed.inc({ ...labels, final: end === 'failed' ? 'true' : 'false' });
      duration.observe({ ...labels, outcome: end }, tookMs / 1000);
    },
    claimed(_step, _jobs, tookMs) {
      claim.observe(tookMs / 1000);
    },
  });
  return { registry, close: stop };
}
