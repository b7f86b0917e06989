/**
 * Passwords of backend URLs never reach a user's screen: not in the errors register() and
 * ready() throw, not in what the deflow command prints, whatever characters they hold.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import DeFlow from '../src/index.js';
import { redactUrl } from '../src/backends/redact-url.js';
import { OwnedRedis } from './redis/server.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

/** Unreachable backends whose passwords hold the characters that break naive redaction. */
const UNREACHABLE = [
  { url: 'redis://user:p%40ss@127.0.0.1:1', secrets: ['p%40ss', 'p@ss'] },
  { url: 'postgres://u:s3cr@t@127.0.0.1:1/db', secrets: ['s3cr@t', 's3cr%40t', 's3cr'] },
  { url: 'postgres://u:pa:ss/w0rd@127.0.0.1:1/db', secrets: ['pa:ss/w0rd', 'ss/w0rd', 'w0rd'] },
  { url: 'postgres://u@127.0.0.1:1/db?password=qu3ry-pw', secrets: ['qu3ry-pw'] },
];

function deflow(args: string[], env: Record<string, string> = {}): Promise<string> {
  const cwd = mkdtempSync(join(tmpdir(), 'deflow-secrets-'));
  return new Promise((resolve) => {
    // Killed after 20 s if it is still waiting for the backend: what it printed by then counts.
    execFile(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, timeout: 20_000, env: { ...process.env, ...env, NO_COLOR: '1' } }, (_e, stdout, stderr) => {
      rmSync(cwd, { recursive: true, force: true });
      resolve(`${stdout}\n${stderr}`);
    });
  });
}

function expectHidden(text: string, secrets: readonly string[]): void {
  for (const secret of secrets) expect(text).not.toContain(secret);
}

/** What `call` throws or rejects with (register() throws bad options at once, ready() rejects the rest). */
async function failureOf(call: () => Promise<unknown>): Promise<Error> {
  try {
    await call();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error('expected a failure');
}

afterEach(async () => {
  await DeFlow.unregister();
});

describe('secrets', () => {
  it('redacts passwords holding "@", ":", "/" or "%40", and secret query parameters', () => {
    expect(redactUrl('redis://user:p%40ss@127.0.0.1:1')).toBe('redis://user:***@127.0.0.1:1');
    expect(redactUrl('postgres://u:s3cr@t@127.0.0.1:1/db')).toBe('postgres://u:***@127.0.0.1:1/db');
    expect(redactUrl('postgres://u:pa:ss/w0rd@127.0.0.1:1/db')).toBe('postgres://u:***@127.0.0.1:1/db');
    expect(redactUrl('postgres://u:12/x@h/db')).toBe('postgres://u:***@h/db'); // parses as port 12 and path "/x@h/db"
    expect(redactUrl('postgres://u:pa?ss@h/db')).toBe('postgres://u:***@h/db');
    expect(redactUrl('postgres://u@h/db?sslmode=require&password=qu3ry&sslpassword=k3y')).toBe('postgres://u@h/db?sslmode=require&password=***&sslpassword=***');
    expect(redactUrl('postgres://u@h:abc/db?password=qu3ry')).toBe('postgres://u@h:abc/db?password=***');
    expect(redactUrl('postgres://h/db?application_name=a@b')).toBe('postgres://h/db?application_name=a@b');
    expect(redactUrl('sqlite:./.deflow/deflow.db')).toBe('sqlite:./.deflow/deflow.db');
  });

  it('keeps passwords out of the errors register() and ready() throw', async () => {
    // A short startupTimeout: the retries it reports (the 'error' events) must hide them too.
    for (const { url, secrets } of UNREACHABLE) {
      const reported: string[] = [];
      const error = await failureOf(async () => {
        const deflow = DeFlow.register({ backend: url, startupTimeout: 1500 });
        deflow.on('error', (problem: Error) => reported.push(inspect(problem, { depth: 5 })));
        return deflow.ready();
      });
      expectHidden(inspect(error, { depth: 5 }), secrets);
      for (const line of reported) expectHidden(line, secrets);
      await DeFlow.unregister();
    }
    const viaConnection = await failureOf(async () =>
      DeFlow.register({ connection: { host: '127.0.0.1', port: 1, password: 'c0nn@pw' }, startupTimeout: 0 }).ready(),
    );
    expectHidden(inspect(viaConnection, { depth: 5 }), ['c0nn@pw']);
    await DeFlow.unregister();
    // Logging the registration itself shows where it points, not the password.
    const logged = inspect(DeFlow.register({ backend: 'postgres://u:s3cr@t@127.0.0.1:1/db' }));
    expect(logged).toContain('postgres://u:***@127.0.0.1:1/db');
    expectHidden(logged, ['s3cr']);
    await DeFlow.unregister();
    // Refused at register(): the URL is quoted, its password is not.
    const bad = await failureOf(async () => DeFlow.register({ backend: 'postgres://u:s3cr@t@127.0.0.1:abc/db?password=qu3ry' }));
    expect(bad.message).toMatch(/not a (valid URL|PostgreSQL URL)/);
    expectHidden(inspect(bad), ['s3cr', 'qu3ry']);
  });

  it('keeps passwords out of what the deflow command prints, from --backend or $DEFLOW_BACKEND', async () => {
    for (const { url, secrets } of UNREACHABLE) {
      const outputs = await Promise.all([
        deflow(['ls', '--backend', url]),
        deflow(['show', 'nope', `--backend=${url}`]),
        deflow(['ls'], { DEFLOW_BACKEND: url }),
      ]);
      for (const output of outputs) {
        expect(output).toContain('127.0.0.1:1'); // it says where it failed to connect
        expectHidden(output, secrets);
      }
    }
  }, 150_000);

  describe('a Redis server that requires a password', () => {
    let redis: OwnedRedis;
    beforeAll(async () => {
      redis = await OwnedRedis.start({ persistence: false });
      await redis.kill();
      await redis.start(['--requirepass', 'r1ght@pw']);
    });
    afterAll(async () => {
      await redis.destroy();
    });

    it('answers a wrong password without quoting it, and a right one without showing it', async () => {
      const wrong = `redis://:${encodeURIComponent('wr0ng@pw')}@127.0.0.1:${redis.port}`;
      const refused = await deflow(['ls', '--backend', wrong]);
      expect(refused).toMatch(/WRONGPASS|invalid password|NOAUTH|cannot/i);
      expectHidden(refused, ['wr0ng', 'wr0ng%40pw']);
      const error = await failureOf(async () => DeFlow.register({ backend: wrong }).ready());
      expectHidden(inspect(error, { depth: 5 }), ['wr0ng']);
      await DeFlow.unregister();

      const right = `redis://:${encodeURIComponent('r1ght@pw')}@127.0.0.1:${redis.port}`;
      const listed = await deflow(['ls', '--backend', right]);
      expect(listed).toContain(`no workflows in redis://127.0.0.1:${redis.port}/0`);
      expectHidden(listed, ['r1ght', 'r1ght%40pw']);
    });
  });
});
