/** What a Redis Cluster refuses, said when the workflow is defined rather than on every claim. */
import { afterAll, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, ValidationError, WorkFlow } from '../../src/index.js';
import { randomPrefix } from '../helpers/redis.js';
import { TestCluster, clusterUnsupported } from '../helpers/redis-cluster.js';

const unsupported = clusterUnsupported();
const cluster = new TestCluster();

afterAll(async () => {
  await DeFlow.unregister();
  await cluster.stop();
});

const keyed = new StepHandler<unknown, { id: string }, string>({
  name: 'cluster-keyed',
  handler: (task) => task.data.id,
});

describe.skipIf(unsupported !== null)(`Redis Cluster refusals${unsupported === null ? '' : ` (skipped: ${unsupported})`}`, () => {
  it('refuses keyConcurrency when the workflow is started, naming the step and what to use instead', async () => {
    await cluster.start();
    await DeFlow.register({ backend: cluster.url, prefix: randomPrefix('refusals') }).ready();
    const workflow = WorkFlow.create('keyed')
      .addStep({ name: 'per-customer', step: keyed, tasks: [{ id: 'a' }], options: { concurrencyKey: 'id', keyConcurrency: 1 } })
      .run();
    const error = await workflow.started().then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/step "per-customer": keyConcurrency .* is not supported on a Redis Cluster yet.*globalConcurrency/);
    // Without the key limit the same step runs.
    const plain = WorkFlow.create('plain').addStep({ step: keyed, tasks: [{ id: 'a' }], options: { globalConcurrency: 1 } }).run();
    expect((await plain.done()).steps[0]?.tasks.map((task) => task.result)).toEqual(['a']);
  }, 120_000);

  it('refuses a keyed rate limit when the workflow is started, naming the step', async () => {
    await cluster.start();
    await DeFlow.unregister();
    await DeFlow.register({ backend: cluster.url, prefix: randomPrefix('refusals') }).ready();
    await DeFlow.setRateLimit('crm', { max: 5, per: 1000 });
    const workflow = WorkFlow.create('keyed-rate')
      .addStep({ name: 'per-account', step: keyed, tasks: [{ id: 'a' }], options: { rateLimit: { name: 'crm', key: 'id' } } })
      .run();
    const error = await workflow.started().then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/step "per-account": a keyed rateLimit .* is not supported on a Redis Cluster yet/);
    // The same limit without a key runs.
    const plain = WorkFlow.create('plain-rate').addStep({ step: keyed, tasks: [{ id: 'a' }], options: { rateLimit: 'crm' } }).run();
    expect((await plain.done()).steps[0]?.tasks.map((task) => task.result)).toEqual(['a']);
  }, 120_000);
});
