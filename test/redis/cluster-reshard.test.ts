/**
 * A Redis Cluster moves slots under a running workflow: every slot of the master that holds
 * the workflow's keys migrates to another master with `redis-cli --cluster reshard` (MOVED,
 * ASK and TRYAGAIN on the way). Nothing is lost or failed (taskMaxFailCount 1).
 */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import { randomPrefix } from '../helpers/redis.js';
import { TestCluster, clusterUnsupported } from '../helpers/redis-cluster.js';

const unsupported = clusterUnsupported();
const cluster = new TestCluster();

afterAll(async () => {
  await DeFlow.unregister();
  await cluster.stop();
});

let started = 0;
// The last tasks wait until the slots moved, so the run is still going when the move ends.
let opened: () => void = () => undefined;
const gate = new Promise<void>((resolve) => (opened = resolve));
const slow = new StepHandler<unknown, { value: number }, number>({
  name: 'reshard-slow',
  async handler(task) {
    started++;
    if (task.data.value >= 300) await gate;
    else await new Promise((resolve) => setTimeout(resolve, 30));
    return task.data.value;
  },
});

/** Runs redis-cli and resolves with its output, rejecting when it fails. */
function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`redis-cli ${args.join(' ')} failed: ${output}`))));
  });
}

/** The node ids of the master serving `slot` and of another master, and how many slots the first serves. */
async function mastersAround(port: number, slot: number): Promise<{ from: string; to: string; count: number }> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  await client.connect();
  try {
    const shards = (await client.cluster('SLOTS')).map(([low, high, master]) => ({ low, high, id: master?.[2] ?? '' }));
    const owner = shards.find(({ low, high }) => low <= slot && slot <= high);
    const other = shards.find(({ id }) => id !== owner?.id);
    if (owner === undefined || other === undefined) throw new Error(`no master serves slot ${slot}`);
    const count = shards.filter(({ id }) => id === owner.id).reduce((sum, { low, high }) => sum + high - low + 1, 0);
    return { from: owner.id, to: other.id, count };
  } finally {
    client.disconnect();
  }
}

describe.skipIf(unsupported !== null)(`Redis Cluster resharding under a running workflow${unsupported === null ? '' : ` (skipped: ${unsupported})`}`, () => {
  it('loses no task while the slots of the workflow master move to another master', async () => {
    await cluster.start();
    await DeFlow.register({ backend: cluster.url, prefix: randomPrefix('reshard'), checkProcessQueueInterval: 250 }).ready();
    const tasks = Array.from({ length: 400 }, (_, value) => ({ value }));
    const workflow = WorkFlow.create('reshard').addStep({ step: slow, tasks, options: { taskConcurrency: 4, taskMaxFailCount: 1 } }).run();
    const done = workflow.done();
    done.catch(() => undefined);
    const port = cluster.ports[0] ?? 0;
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
    await probe.connect();
    const slot = Number(await probe.cluster('KEYSLOT', workflow.id));
    probe.disconnect();
    const { from, to, count } = await mastersAround(port, slot);
    while (started < 20) await new Promise((resolve) => setTimeout(resolve, 20));
    // Every slot of that master (about 5461 of 16384), the workflow's among them, while tasks run.
    await redisCli(['--cluster', 'reshard', `127.0.0.1:${port}`, '--cluster-from', from, '--cluster-to', to, '--cluster-slots', String(count), '--cluster-yes']);
    opened();
    const result = await done;
    const results = result.steps[0]?.tasks ?? [];
    expect(results.map((task) => task.result)).toEqual(tasks.map((task) => task.value));
    expect(results.every((task) => task.status === 'succeeded' && task.failedCount === 0)).toBe(true);
    const { from: owner } = await mastersAround(port, slot);
    expect(owner).toBe(to);
  }, 240_000);
});
