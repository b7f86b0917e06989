/** Step handlers of the PostgreSQL benchmark, shared by the parent and the worker processes. */
import { StepHandler } from '../../src/index.js';

/** Does nothing: measures the machinery, not the work. */
export const noop = new StepHandler<unknown, number, number>({
  name: 'bench-noop',
  handler: (task) => task.seq,
});

/** Returns when it ran (epoch ms, sub-millisecond): chain latency is the gap between steps. */
export const stamp = new StepHandler<unknown, number, number>({
  name: 'bench-stamp',
  handler: () => performance.timeOrigin + performance.now(),
});
