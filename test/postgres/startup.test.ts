/**
 * A node started while PostgreSQL is down (a test-owned cluster, not started yet) waits for it,
 * saying so once per attempt, instead of failing at ready(); it gives up with a clear error when
 * startupTimeout runs out, and at once for a server that answers but refuses (no such database).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import DeFlow, { BackendError, BackendUnavailableError, WorkFlow } from '../../src/index.js';
import { eventually } from '../conformance/context.js';
import echo from '../fixtures/steps/echo.js';
import { DATABASE_URL, freshSchemaName } from '../helpers/postgres.js';
import { OwnedPostgres } from './server.js';

let server: OwnedPostgres;

beforeAll(async () => {
  server = await OwnedPostgres.create();
}, 60_000);

afterAll(async () => {
  await server.destroy();
});

afterEach(async () => {
  await DeFlow.unregister();
  await server.stop();
});

function register(options: Record<string, unknown>): { deflow: DeFlow; said: string[] } {
  const url = server.url.replace('postgres@', 'postgres:s3cret@'); // trust authentication: the password is ignored
  const deflow = DeFlow.register({ backend: url, schema: freshSchemaName(), ...options });
  const said: string[] = [];
  deflow.on('error', (error, during) => said.push(`${during}: ${error.message}`));
  return { deflow, said };
}

describe('PostgreSQL down when a node starts', () => {
  it('waits for a server started later, saying so each attempt, then runs workflows', async () => {
    const { deflow, said } = register({ startupTimeout: 60_000 });
    await eventually(() => (said.length >= 3 ? true : undefined), 20_000);
    expect(deflow.state).toBe('connecting');
    await server.start();
    await deflow.ready();
    const result = await WorkFlow.create('after-wait').addStep({ step: echo, tasks: [{ value: 1 }, { value: 2 }] }).run().done();
    expect(result.status).toBe('succeeded');
    const where = `postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${server.port}/postgres \\(schema deflow_t_\\w+\\)`;
    for (const line of said) {
      expect(line).toMatch(new RegExp(`^connect: cannot open the PostgreSQL backend at ${where}: .*ECONNREFUSED.* Trying again in \\d+\\.\\d s \\(attempt \\d+ failed`));
      expect(line).not.toContain('s3cret');
    }
  }, 90_000);

  it('gives up when startupTimeout runs out, saying where, for how long and what to do', async () => {
    const { deflow, said } = register({ startupTimeout: 1_500 });
    const error = (await deflow.ready().catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error.message).toMatch(
      new RegExp(
        `^gave up waiting for PostgreSQL at postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${server.port}/postgres \\(schema \\w+\\) after \\d+(\\.\\d)? s and \\d+ attempts ` +
          '\\(DeFlow.register options.startupTimeout is 1500 ms\\); last error: cannot open the PostgreSQL backend .*ECONNREFUSED.*' +
          'Start the server or fix the backend URL, or give startupTimeout more time\\.$',
      ),
    );
    expect(error.message).not.toContain('s3cret');
    expect(said.length).toBeGreaterThan(0);
  }, 30_000);

  it('fails at once, without waiting, when the server answers but has no such database', async () => {
    const url = new URL(DATABASE_URL);
    url.pathname = '/deflow_no_such_database';
    const deflow = DeFlow.register({ backend: url.toString(), schema: freshSchemaName() });
    const said: string[] = [];
    deflow.on('error', (error) => said.push(error.message));
    const error = (await deflow.ready().catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BackendError);
    expect(error).not.toBeInstanceOf(BackendUnavailableError);
    expect(error.message).toMatch(/database "deflow_no_such_database" does not exist/);
    expect(said).toEqual([]);
  });
});
