/**
 * The behavioural suite every backend must pass unchanged. A backend's test file calls
 * `runConformance` with a BackendUnderTest that gives each test a fresh store, and a second
 * file calls `runProcessConformance` (real node processes: crashes, freezes, fault points),
 * so the two run in parallel.
 */
import { describe } from 'vitest';
import type { BackendUnderTest } from '../helpers/backends.js';
import { api } from './api.js';
import { useConformance } from './context.js';
import { concurrencyLimits } from './concurrency-limits.js';
import { concurrencyProcesses } from './concurrency-processes.js';
import { corruptRecords } from './corrupt-records.js';
import { counts } from './counts.js';
import { crashPoints } from './crash-points.js';
import { dag } from './dag.js';
import { definitions } from './definitions.js';
import { deflowPorts } from './deflow-ports.js';
import { events } from './events.js';
import { failures } from './failures.js';
import { idempotentProcesses } from './idempotent-processes.js';
import { leases } from './leases.js';
import { names } from './names.js';
import { nodeLosses } from './node-losses.js';
import { priorities } from './priorities.js';
import { processEvents } from './process-events.js';
import { processes } from './processes.js';
import { queueProcesses } from './queue-processes.js';
import { queues } from './queues.js';
import { rateLimitProcesses } from './rate-limit-processes.js';
import { rateLimits } from './rate-limits.js';
import { results } from './results.js';
import { retry } from './retry.js';
import { retryProcesses } from './retry-processes.js';
import { scheduleProcesses } from './schedule-processes.js';
import { schedules } from './schedules.js';
import { runControl } from './run-control.js';
import { runControlProcesses } from './run-control-processes.js';
import { storedCode } from './stored-code.js';
import { taskDelay } from './task-delay.js';
import { taskDelayProcesses, timerProcesses } from './timer-processes.js';
import { timers } from './timers.js';

export function runConformance(backend: BackendUnderTest): void {
  describe(`conformance: ${backend.name}`, () => {
    const context = useConformance(backend);
    deflowPorts(context);
    dag(context);
    api(context);
    leases(context);
    nodeLosses(context);
    failures(context);
    storedCode(context);
    names(context);
    corruptRecords(context);
    timers(context);
    taskDelay(context);
    retry(context);
    runControl(context);
    definitions(context);
    events(context);
    concurrencyLimits(context);
    rateLimits(context);
    priorities(context);
    results(context);
    counts(context);
    queues(context);
    schedules(context);
  });
}

export function runProcessConformance(backend: BackendUnderTest): void {
  describe(`conformance with node processes: ${backend.name}`, () => {
    const context = useConformance(backend);
    processes(context);
    crashPoints(context);
    timerProcesses(context);
    taskDelayProcesses(context);
    retryProcesses(context);
    runControlProcesses(context);
    idempotentProcesses(context);
    processEvents(context);
    concurrencyProcesses(context);
    rateLimitProcesses(context);
    queueProcesses(context);
    scheduleProcesses(context);
  });
}
