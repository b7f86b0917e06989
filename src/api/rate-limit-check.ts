/**
 * run() refuses a workflow whose steps name a rate limit that is not set (one read, only when
 * some step names one): the mistake shows at the call, not as failed tasks later. A limit
 * removed while the workflow runs still fails its tasks at claim time (ERR_RATE_LIMIT_UNKNOWN).
 */
import type { Backend, NewStep } from '../backends/backend.js';
import { ValidationError } from '../errors.js';

export async function checkRateLimitsSet(backend: Backend, workflowName: string, steps: readonly NewStep[]): Promise<void> {
  const named = steps.filter((step) => step.options.rateLimit !== undefined);
  if (named.length === 0) return;
  const set = new Set((await backend.rateLimits()).map((limit) => limit.name));
  const missing = named.find((step) => !set.has(step.options.rateLimit ?? ''));
  if (missing === undefined) return;
  const name = missing.options.rateLimit ?? '';
  throw new ValidationError(
    `step "${missing.name}" of workflow "${workflowName}" names rate limit "${name}", which is not set: ` +
      `call DeFlow.setRateLimit(${JSON.stringify(name)}, { max, per }) before run()`,
  );
}
