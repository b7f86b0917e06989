/**
 * A node started while Redis is down (nothing listens on its port yet) waits for it, saying so
 * once per attempt, instead of failing at ready(); it gives up with a clear error when
 * startupTimeout runs out, and at once for a server that answers but refuses it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { BackendUnavailableError, WorkFlow } from '../../src/index.js';
import { eventually } from '../conformance/context.js';
import echo from '../fixtures/steps/echo.js';
import { randomPrefix } from '../helpers/redis.js';
import { OwnedRedis, freePort } from './server.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const STEPS = fileURLToPath(new URL('../fixtures/steps/', import.meta.url));

let server: OwnedRedis | null = null;

afterEach(async () => {
  await DeFlow.unregister();
  await server?.destroy();
  server = null;
});

/** Registers against a port where nothing listens yet; collects what the node says while it waits. */
async function registerBeforeTheServer(options: Record<string, unknown> = {}): Promise<{ deflow: DeFlow; said: string[]; port: number }> {
  const port = await freePort();
  server = OwnedRedis.reserve(port);
  const deflow = DeFlow.register({ backend: `redis://:s3cret@127.0.0.1:${port}`, prefix: randomPrefix('startup'), ...options });
  const said: string[] = [];
  deflow.on('error', (error, during) => said.push(`${during}: ${error.message}`));
  return { deflow, said, port };
}

describe('Redis down when a node starts', () => {
  it('waits for a server started later, saying so each attempt, then runs workflows', async () => {
    const { deflow, said, port } = await registerBeforeTheServer({ startupTimeout: 60_000 });
    // A workflow run while the node waits is stored once the server is there.
    const early = WorkFlow.create('during-wait').addStep({ step: echo, tasks: [{ value: 1 }] }).run();
    await eventually(() => (said.length >= 3 ? true : undefined), 20_000);
    expect(deflow.state).toBe('connecting');
    await server?.start(['--requirepass', 's3cret']);
    await deflow.ready();
    expect((await early.done()).status).toBe('succeeded');
    const result = await WorkFlow.create('after-wait').addStep({ step: echo, tasks: [{ value: 1 }, { value: 2 }] }).run().done();
    expect(result.status).toBe('succeeded');
    const where = `redis://127\\.0\\.0\\.1:${port}/0`;
    for (const line of said) {
      expect(line).toMatch(new RegExp(`^connect: cannot reach Redis at ${where}: .*ECONNREFUSED.* Trying again in \\d+\\.\\d s \\(attempt \\d+ failed; giving up \\d+(\\.\\d)? s from now`));
      expect(line).not.toContain('s3cret');
    }
  }, 90_000);

  it('gives up when startupTimeout runs out, saying where, for how long and what to do', async () => {
    const { deflow, said, port } = await registerBeforeTheServer({ startupTimeout: 1_500 });
    const error = (await deflow.ready().catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error.message).toMatch(
      new RegExp(
        `^gave up waiting for Redis at redis://127\\.0\\.0\\.1:${port}/0 \\(prefix deflow-startup-\\w+\\) after \\d+(\\.\\d)? s and \\d+ attempts ` +
          '\\(DeFlow.register options.startupTimeout is 1500 ms\\); last error: cannot reach Redis .*ECONNREFUSED.*' +
          'Start the server or fix the backend URL, or give startupTimeout more time\\.$',
      ),
    );
    expect(error.message).not.toContain('s3cret');
    expect(said.length).toBeGreaterThan(0);
    expect(deflow.state).toBe('failed');
  }, 30_000);

  it('fails at once with startupTimeout 0', async () => {
    const { deflow, said } = await registerBeforeTheServer({ startupTimeout: 0 });
    await expect(deflow.ready()).rejects.toThrow(/^cannot reach Redis at .*ECONNREFUSED/);
    expect(said).toEqual([]);
  });

  it('fails at once, without waiting, when the server answers but refuses the password, the user, or wants one', async () => {
    const port = await freePort();
    server = OwnedRedis.reserve(port);
    await server.start(['--requirepass', 'right']);
    const cases = [
      { auth: ':wrong@', says: /^cannot use Redis at redis:\/\/127\.0\.0\.1:\d+\/0: it refused the password; Redis answered "WRONGPASS/ },
      { auth: 'bob:wrong@', says: /^cannot use Redis at redis:\/\/127\.0\.0\.1:\d+\/0: it refused the user "bob" or its password; Redis answered "WRONGPASS/ },
      { auth: '', says: /^cannot use Redis at redis:\/\/127\.0\.0\.1:\d+\/0: it requires a password and none was given; Redis answered "NOAUTH/ },
    ];
    for (const { auth, says } of cases) {
      // A long startupTimeout: a refusal must not be waited out like a server that is down.
      const deflow = DeFlow.register({ backend: `redis://${auth}127.0.0.1:${port}`, prefix: randomPrefix('startup'), startupTimeout: 60_000 });
      const said: string[] = [];
      deflow.on('error', (error) => said.push(error.message));
      const error = (await deflow.ready().catch((e: unknown) => e)) as Error;
      expect(error).not.toBeInstanceOf(BackendUnavailableError);
      expect(error.message).toMatch(says);
      expect(error.message).toMatch(/Fix the user and password in the backend URL/);
      expect(error.message).not.toMatch(/cannot reach|Check that it runs|wrong/);
      expect(said).toEqual([]);
      await DeFlow.unregister();
    }
  }, 30_000);

  it('stops waiting when unregistered', async () => {
    const { deflow, said } = await registerBeforeTheServer();
    await eventually(() => (said.length >= 1 ? true : undefined), 20_000);
    await DeFlow.unregister();
    expect(deflow.state).toBe('closed');
    await expect(deflow.ready()).rejects.toThrow(/unregistered while it waited for its backend/);
  }, 30_000);

  it('deflow worker waits for the server too, telling on stderr', async () => {
    const port = await freePort();
    server = OwnedRedis.reserve(port);
    const worker = spawn(process.execPath, ['--import', 'tsx', MAIN, 'worker', '--steps', STEPS, '--backend', `redis://127.0.0.1:${port}`, '--prefix', randomPrefix('startup')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    worker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
    try {
      await eventually(() => (/deflow worker: connect: cannot reach Redis at .*Trying again in/.test(stderr) ? true : undefined), 30_000);
      await server.start();
      await eventually(() => (stderr.includes('step modules loaded') ? true : undefined), 30_000);
      expect(stderr).toMatch(new RegExp(`deflow worker \\d+ on redis \\(redis://127\\.0\\.0\\.1:${port}/0`));
    } finally {
      worker.kill('SIGTERM');
      await exited;
    }
  }, 90_000);
});
