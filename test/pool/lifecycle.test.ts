// Worker lifecycle: ttl, idleness, memory limits, failures to start, backoff, process exit.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { ModuleLoadError, WorkerTerminatedError, type FarmWorkerInfo } from '../../src/pool/index.js';
import { basicFarm, checkLeaksAfterEach, fixture, isAlive, makeFarm, nextEvent, recordEvents, tempFile, TYPES, waitFor } from './helpers.js';

checkLeaksAfterEach();

describe.each(TYPES)('%s workers', (type) => {
  const idOf = (who: { pid: number; threadId: number }): number => (type === 'process' ? who.pid : who.threadId);

  test('ttl: a worker is replaced after receiving ttl calls', async () => {
    const farm = basicFarm({ type, ttl: 2 });
    const ttlEvents = recordEvents(farm, ['ttl']);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) seen.push(idOf(await farm.runMethod('whoami')));
    expect(seen[0]).toBe(seen[1]);
    expect(seen[2]).toBe(seen[3]);
    expect(new Set(seen).size).toBe(3);
    expect(ttlEvents).toHaveLength(2);
    await farm.kill();
  });

  test('maxIdleTime counts from the start: a worker that never got a call is stopped', async () => {
    const farm = basicFarm({ type, numberOfWorkers: 2, maxIdleTime: 300 });
    const idle: FarmWorkerInfo[] = [];
    farm.on('idle', (worker) => idle.push(worker));
    await waitFor(() => farm.workers.length === 2);
    const online = performance.now();
    await waitFor(() => farm.workers.length === 0);
    expect(idle.map((worker) => worker.id).sort()).toEqual([1, 2]);
    expect(performance.now() - online).toBeGreaterThanOrEqual(250);
    // A call starts a worker again on demand.
    expect(await farm.run(1, 2)).toBe(3);
    expect(farm.workers).toHaveLength(1);
    await farm.kill();
  });

  test('maxIdleTime leaves busy workers alone', async () => {
    const farm = basicFarm({ type, maxIdleTime: 200 });
    const idle = recordEvents(farm, ['idle']);
    expect(await farm.runMethod('sleep', 500, 'done')).toBe('done');
    expect(idle).toHaveLength(0);
    await farm.kill();
  });

  test('maxMemoryMb: a worker over the limit is replaced once its calls are done', async () => {
    // Thread workers measure their own V8 heap (~a few MiB idle); processes their RSS.
    const farm = basicFarm({ type, maxMemoryMb: type === 'thread' ? 64 : 400 });
    const memoryEvents = recordEvents(farm, ['memory']);
    const first = idOf(await farm.runMethod('whoami'));
    for (let i = 0; i < 12 && memoryEvents.length === 0; i++) await farm.runMethod('retain', 48);
    expect(memoryEvents).toHaveLength(1);
    const [worker, bytes] = memoryEvents[0]?.args as [FarmWorkerInfo, number];
    expect(bytes).toBeGreaterThan((type === 'thread' ? 64 : 400) * 1024 * 1024);
    expect(['draining', 'stopping', 'exited']).toContain(worker.state);
    expect(idOf(await farm.runMethod('whoami'))).not.toBe(first);
    await farm.kill();
  });

  test('a module that throws while loading rejects calls with ModuleLoadError, without any timeout', async () => {
    const farm = makeFarm<unknown>({ module: fixture('load-throws.ts'), type });
    const errors: Error[] = [];
    farm.on('error', (error) => errors.push(error));
    const error = (await farm.run().catch((e: unknown) => e)) as ModuleLoadError;
    expect(error).toBeInstanceOf(ModuleLoadError);
    expect(error.code).toBe('ERR_POOL_MODULE_LOAD');
    expect(error.module).toMatch(/load-throws\.ts$/);
    expect(error.message).toContain('cannot load me: missing configuration');
    expect((error.cause as Error).message).toBe('cannot load me: missing configuration');
    expect(errors[0]).toBeInstanceOf(ModuleLoadError);
    // While no worker can start, new calls fail fast too.
    await expect(farm.run()).rejects.toBeInstanceOf(ModuleLoadError);
    const [results, failures] = await farm.broadcast();
    expect(results).toEqual([]);
    for (const failure of failures) expect(failure).toBeInstanceOf(ModuleLoadError);
    await farm.kill();
  });

  test('a module that never finishes loading: after startupTimeout its worker is killed and calls reject with ModuleLoadError', async () => {
    const farm = makeFarm<unknown>({ module: fixture('hang-at-load.ts'), type, startupTimeout: 500 });
    const errors: Error[] = [];
    farm.on('error', (error) => errors.push(error));
    const exited = nextEvent(farm, 'exit');
    const plain = farm.run().catch((e: unknown) => e);
    const timed = farm.call({ timeout: 100 }).catch((e: unknown) => e);
    const broadcast = farm.broadcast();
    const error = (await plain) as ModuleLoadError;
    expect(error).toBeInstanceOf(ModuleLoadError);
    expect(error.message).toBe(`worker 1 did not finish loading ${pathToFileURL(fixture('hang-at-load.ts')).href} within 500 ms (options.startupTimeout); it was killed`);
    expect(error.module).toBe(pathToFileURL(fixture('hang-at-load.ts')).href);
    expect(await timed).toBeInstanceOf(ModuleLoadError);
    const [results, failures] = await broadcast;
    expect(results).toEqual([]);
    expect(failures.map((failure) => failure.constructor)).toEqual([ModuleLoadError]);
    expect(errors[0]).toBeInstanceOf(ModuleLoadError);
    expect((await exited)[0].stopReason).toBe('start-failure');
    await farm.kill();
  });

  test('a custom serializer that never finishes loading in the farm fails calls after startupTimeout', async () => {
    const serializer = pathToFileURL(fixture('serializer-hangs-in-farm.ts')).href;
    const farm = basicFarm({ type, serializer, startupTimeout: 500 });
    const error = (await farm.run(1, 2).catch((e: unknown) => e)) as ModuleLoadError;
    expect(error).toBeInstanceOf(ModuleLoadError);
    expect(error.module).toBe(serializer);
    expect(error.message).toBe(`could not load serializer ${serializer}: it did not finish loading within 500 ms (options.startupTimeout)`);
    await farm.kill();
  });

  test('a module with a syntax error rejects calls with ModuleLoadError', async () => {
    const file = tempFile('broken.mjs');
    fs.writeFileSync(file, 'export default function (a, b {\n');
    const farm = makeFarm<unknown>({ module: file, type });
    await expect(farm.run()).rejects.toThrow(ModuleLoadError);
    await farm.kill();
  });

  test('a module that exits while loading rejects calls with ModuleLoadError', async () => {
    const farm = makeFarm<unknown>({ module: fixture('exit-at-start.ts'), type });
    await expect(farm.run()).rejects.toThrow(/exited \(code 3, signal null\) before it loaded/);
    await farm.kill();
  });

  test('a worker that fails to load once is started again and then serves', async () => {
    const marker = tempFile('flaky');
    const options = type === 'process' ? { fork: { env: { ...process.env, DEFLOW_TEST_MARKER: marker } } } : { thread: { env: { ...process.env, DEFLOW_TEST_MARKER: marker } } };
    const farm = makeFarm<{ default(): string }>({ module: fixture('flaky-start.ts'), type, ...options });
    await nextEvent(farm, 'online');
    expect(await farm.run()).toBe('loaded on a later try');
    await farm.kill();
  });
});

test('a worker that cannot be spawned rejects calls with ModuleLoadError, the spawn error as cause', async () => {
  const farm = basicFarm({ fork: { cwd: '/nonexistent-dir' } });
  const errors: Error[] = [];
  farm.on('error', (error) => errors.push(error));
  const error = (await farm.run(1, 2).catch((e: unknown) => e)) as ModuleLoadError;
  expect(error).toBeInstanceOf(ModuleLoadError);
  expect(error.message).toMatch(/^worker 1 could not be spawned: spawn .* ENOENT; check that fork\.cwd and fork\.execPath exist$/);
  expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  // One error event per failure, the ModuleLoadError carrying the cause.
  expect(errors[0]).toBeInstanceOf(ModuleLoadError);
  expect((errors[0]?.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  await farm.kill();
});

test('a thread that runs out of memory while starting rejects calls with ModuleLoadError, the OOM as cause', async () => {
  const farm = basicFarm({ type: 'thread', thread: { resourceLimits: { maxOldGenerationSizeMb: 1 } } });
  const error = (await farm.run(1, 2).catch((e: unknown) => e)) as ModuleLoadError;
  expect(error).toBeInstanceOf(ModuleLoadError);
  expect(error.message).toMatch(/^worker 1 failed before it loaded .*basic\.ts: Worker terminated due to reaching memory limit/);
  expect((error.cause as Error & { code?: string }).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
  await farm.kill();
});

describe.each(TYPES)('%s workers that crash right after they start', (type) => {
  test('are restarted with growing delays, each crash an error event', async () => {
    const quiet = type === 'process' ? { fork: { silent: true } } : {}; // the crash's stack would clutter the test output
    const farm = makeFarm<unknown>({ module: fixture('crash-after-ready.ts'), type, ...quiet });
    const events = recordEvents(farm, ['fork', 'online', 'exit']);
    const errors: Error[] = [];
    farm.on('error', (error) => errors.push(error));
    await waitFor(() => events.filter((e) => e.event === 'fork').length >= 4);
    const delays: number[] = [];
    for (let i = 0; i + 1 < events.length; i++) {
      if (events[i]?.event === 'exit' && events[i + 1]?.event === 'fork') delays.push(events[i + 1]!.at - events[i]!.at);
    }
    expect(events.some((e) => e.event === 'online')).toBe(true); // they did start
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(delays[0]).toBeGreaterThanOrEqual(90);
    expect(delays[1]).toBeGreaterThanOrEqual(190);
    expect(delays[2]).toBeGreaterThanOrEqual(390);
    const early = errors.filter((error) => error instanceof WorkerTerminatedError);
    expect(early.length).toBeGreaterThanOrEqual(3);
    expect(early[0]?.message).toMatch(/^worker 1 exited \(code 1, signal null\) \d+ ms after it started; workers that crash this early are restarted with a growing delay$/);
    await farm.kill();
  });
});

test('workers that crash at start are restarted with growing delays', async () => {
  const farm = makeFarm({ module: fixture('exit-at-start.ts') });
  const events = recordEvents(farm, ['fork', 'exit']);
  farm.on('error', () => {}); // expected: each start fails
  await waitFor(() => events.filter((e) => e.event === 'fork').length >= 4);
  const delays: number[] = [];
  for (let i = 0; i + 1 < events.length; i++) {
    if (events[i]?.event === 'exit' && events[i + 1]?.event === 'fork') delays.push(events[i + 1]!.at - events[i]!.at);
  }
  expect(delays.length).toBeGreaterThanOrEqual(3);
  expect(delays[0]).toBeGreaterThanOrEqual(90);
  expect(delays[1]).toBeGreaterThanOrEqual(190);
  expect(delays[2]).toBeGreaterThanOrEqual(390);
  await farm.kill();
});

test('a process worker that closes its IPC channel is killed, and its calls retried', async () => {
  const farm = basicFarm({ numberOfWorkers: 1 });
  const [worker] = await nextEvent(farm, 'online');
  const disconnected = nextEvent(farm, 'disconnect');
  const exited = nextEvent(farm, 'exit');
  expect(await farm.runMethod('disconnect')).toBe('disconnecting');
  expect((await disconnected)[0].id).toBe(worker.id);
  expect((await exited)[0].stopReason).toBe('crash');
  expect(await farm.run(2, 2)).toBe(4);
  await farm.kill();
});

describe('hard memory limits (a call allocating without end)', () => {
  test('process: --max-old-space-size makes the worker die, the call fails', async () => {
    const farm = basicFarm({ maxRetries: 0, fork: { execArgv: ['--max-old-space-size=64'] } });
    const error = (await farm.runMethod('allocateForever').catch((e: unknown) => e)) as WorkerTerminatedError;
    expect(error).toBeInstanceOf(WorkerTerminatedError);
    expect(error.message).toMatch(/exited unexpectedly/);
    await farm.kill();
  });

  test('thread: resourceLimits make the worker die, the call fails', async () => {
    const farm = basicFarm({ type: 'thread', maxRetries: 0, thread: { resourceLimits: { maxOldGenerationSizeMb: 48 } } });
    const errors: Error[] = [];
    farm.on('error', (error) => errors.push(error));
    const error = (await farm.runMethod('allocateForever').catch((e: unknown) => e)) as WorkerTerminatedError;
    expect(error).toBeInstanceOf(WorkerTerminatedError);
    expect(errors.some((e) => (e as Error & { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY')).toBe(true);
    await farm.kill();
  });
});

test.each(TYPES)('%s: a script that never calls kill() still exits on its own', async (type) => {
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture('forgetful-script.ts'), type], { timeout: 30_000 });
  expect(stdout.trim()).toBe('42');
});

test.each(TYPES)('%s: ... and so does one whose workers write to pipes (fork.silent, thread.stdout)', async (type) => {
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture('forgetful-script.ts'), type, 'piped'], { timeout: 30_000 });
  expect(stdout.trim()).toBe('42');
});

test.each(TYPES)('%s: a call waiting for a worker to respawn after a crash keeps the process alive', async (type) => {
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture('call-after-crash.ts'), type], { timeout: 30_000 });
  expect(stdout.trim().split('\n')).toEqual(['WorkerTerminatedError', '42']);
});

test('process workers still starting when the parent exits leave quietly (no IPC error on stderr)', async () => {
  const run = promisify(execFile);
  // execFile answers once every holder of the script's stdio is gone, the orphaned workers too.
  const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', fixture('exit-while-starting.ts')], { timeout: 30_000 });
  const pids = [...stdout.matchAll(/worker (\d+)/g)].map((match) => Number(match[1]));
  expect(pids).toHaveLength(2);
  expect(stderr).toBe('');
  await waitFor(() => pids.every((pid) => !isAlive(pid)));
});

test('a process worker busy in a synchronous loop dies when its farm process is killed with SIGKILL', async () => {
  const marker = tempFile('spinning');
  const parent = spawn(process.execPath, ['--import', 'tsx', fixture('orphan-parent.ts'), marker], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  parent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let workerPid: number | undefined;
  try {
    await waitFor(() => fs.existsSync(marker) && /worker \d+/.test(output));
    workerPid = Number(/worker (\d+)/.exec(output)?.[1]);
    parent.kill('SIGKILL');
    await waitFor(() => !isRunning(workerPid!), 10_000);
  } finally {
    parent.kill('SIGKILL');
    if (workerPid !== undefined && isRunning(workerPid)) process.kill(workerPid, 'SIGKILL');
  }
});

test('a farm created from `node -e` does not make its workers run the eval code (no fork bomb)', async () => {
  const run = promisify(execFile);
  const pool = new URL('../../src/pool/index.ts', import.meta.url).href;
  // Guard: should a worker ever run this code, it exits at once instead of forking again.
  const code = `
    if (process.env.DEFLOW_POOL_WORKER_CONFIG) { process.exit(1); }
    const { createFarm } = await import(${JSON.stringify(pool)});
    const farm = createFarm({ module: ${JSON.stringify(fixture('basic.ts'))}, numberOfWorkers: 1, maxRetries: 0 });
    console.log(await farm.run(1, 2).catch((error) => error.message));
    await farm.kill();`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeout: 30_000 });
  expect(stdout.trim()).toBe('3');
});

/** Alive and not a zombie (an orphan's reaper may be slow, or absent in a container). */
function isRunning(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc (macOS): signal 0 is all we have
  }
}
