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
import { corruptRecords } from './corrupt-records.js';
import { crashPoints } from './crash-points.js';
import { dag } from './dag.js';
import { deflowPorts } from './deflow-ports.js';
import { failures } from './failures.js';
import { leases } from './leases.js';
import { names } from './names.js';
import { nodeLosses } from './node-losses.js';
import { priorities } from './priorities.js';
import { processes } from './processes.js';
import { rateLimitProcesses } from './rate-limit-processes.js';
import { rateLimits } from './rate-limits.js';
import { storedCode } from './stored-code.js';

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
    rateLimits(context);
    priorities(context);
  });
}

export function runProcessConformance(backend: BackendUnderTest): void {
  describe(`conformance with node processes: ${backend.name}`, () => {
    const context = useConformance(backend);
    processes(context);
    crashPoints(context);
    rateLimitProcesses(context);
  });
}
