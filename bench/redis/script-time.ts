/**
 * How long the Redis scripts of big writes block the server: creating a workflow with N tasks,
 * adding N tasks from beforeAll in one addTasks call, and running them to the end. Each script
 * slower than 1 ms is read back from SLOWLOG (run it on a Redis of its own: it resets SLOWLOG),
 * along with the server's memory per finished task (INFO memory before and after).
 *
 *   REDIS_URL=redis://127.0.0.1:6399 node --import tsx bench/redis/script-time.ts [tasks=100000]
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6399';
const tasks = Number(process.argv[2] ?? 100_000);
const admin = new Redis(REDIS_URL);
const prefix = `bench-script-${randomBytes(3).toString('hex')}`;

const adder = new StepHandler<unknown, number, void>({
  name: 'bench-script-adder',
  async beforeAll(step) {
    await step.addTasks(Array.from({ length: tasks }, (_, i) => i));
  },
  handler: () => undefined,
});
const noop = new StepHandler<unknown, number, void>({ name: 'bench-script-noop', handler: () => undefined });

async function usedMemory(): Promise<number> {
  // A removed workflow is freed in the background (UNLINK): wait until it is.
  while (/lazyfree_pending_objects:[1-9]/.test(await admin.info('memory'))) await new Promise((resolve) => setTimeout(resolve, 50));
  const info = await admin.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

/** The slowest scripts since the last call, in ms, by command name. */
async function slowest(): Promise<string> {
  const entries = (await admin.call('SLOWLOG', 'GET', '100000')) as [number, number, number, string[]][];
  await admin.call('SLOWLOG', 'RESET');
  const top = entries
    .map(([, , micros, args]) => ({ ms: micros / 1000, what: `${args[0] ?? ""} ${args[1] ?? ""}` }))
    .sort((a, b) => b.ms - a.ms);
  const writes = top.filter((e) => /_(create|add_tasks)$/.test(e.what));
  const show = (list: typeof top): string => list.slice(0, 3).map((e) => `${e.ms.toFixed(1)} ms (${e.what.replace(/^fcall deflow_[0-9a-f]+_/, '')})`).join(', ');
  return `${show(top)}; create/add-tasks: ${writes.length === 0 ? 'none over 1 ms' : show(writes)}`;
}

await admin.call('CONFIG', 'SET', 'slowlog-log-slower-than', '1000');
await admin.call('CONFIG', 'SET', 'slowlog-max-len', '100000');
await admin.call('SLOWLOG', 'RESET');
DeFlow.register({ backend: REDIS_URL, prefix });
await DeFlow.getInstance().ready();
await slowest();

for (const [label, build] of [
  ['create with tasks', () => WorkFlow.create('script-create').addStep({ step: noop, tasks: Array.from({ length: tasks }, (_, i) => i) })],
  ['addTasks from beforeAll', () => WorkFlow.create('script-add').addStep({ step: adder })],
] as const) {
  const before = await usedMemory();
  const workflow = build().run();
  await workflow.done();
  const after = await usedMemory();
  console.log(`${label}, ${tasks} tasks: slowest scripts ${await slowest()}; memory per finished task ${((after - before) / tasks).toFixed(0)} bytes`);
  await workflow.clean();
}
await DeFlow.unregister();
await admin.quit();
