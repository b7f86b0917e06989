/** Observing this process's jobs (the server's metrics use it); the engine keeps the observers. */
export { noteEventsDelivered, observeJobs } from '../engine/telemetry.js';
export type { JobEnd, JobObserver } from '../engine/telemetry.js';
