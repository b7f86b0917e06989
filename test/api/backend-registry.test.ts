/**
 * The backend registry: which backend a URL chooses, one message per bad URL whichever way it
 * reaches the backend, isolation options checked and warned about, and drivers loaded only by
 * the backend that needs them.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import { chooseBackend, ignoredOptions } from '../../src/backends/registry.js';
import type { BackendInput } from '../../src/backends/registry.js';
import { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import { redisSettings } from '../../src/backends/redis/connection.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/loaded-drivers.ts', import.meta.url));

function input(url: string, more: Partial<BackendInput> = {}): BackendInput {
  return { url, connection: undefined, prefix: undefined, schema: undefined, pollIntervalMs: 50, recoverIntervalMs: 2000, ...more };
}

/** The message `fn` throws (failing the test when it does not throw a ValidationError). */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  }
  throw new Error('expected a ValidationError');
}

describe('backend registry', () => {
  it('chooses the backend by the URL scheme', () => {
    expect(chooseBackend(input('sqlite:./x.db'))).toMatchObject({ kind: 'sqlite', config: { path: resolve('x.db'), pollIntervalMs: 50 } });
    expect(chooseBackend(input('sqlite::memory:')).config).toMatchObject({ path: ':memory:' });
    expect(chooseBackend(input('sqlite:///abs/x.db')).config).toMatchObject({ path: '/abs/x.db' });
    expect(chooseBackend(input('redis://h:6379/2', { prefix: 'app' }))).toMatchObject({ kind: 'redis', config: { url: 'redis://h:6379/2', prefix: 'app' } });
    expect(chooseBackend(input('rediss://h')).kind).toBe('redis');
    expect(chooseBackend(input('redis:', { connection: { host: 'h', db: 3 } }))).toMatchObject({ kind: 'redis', config: { connection: { host: 'h', db: 3 } } });
    expect(chooseBackend(input('postgres://u@h/db'))).toMatchObject({ kind: 'postgres', config: { schema: 'deflow', recoverIntervalMs: 2000 } });
    expect(chooseBackend(input('postgresql://u@h/db', { schema: 'app' })).config).toMatchObject({ schema: 'app' });
  });

  it('names the schemes it takes for a URL no backend takes, without its password', () => {
    const message = messageOf(() => chooseBackend(input('mysql://me:secret@db/app')));
    expect(message).toBe(
      'DeFlow.register options.backend: unsupported backend "mysql://me:***@db/app"; ' +
        'use "sqlite:/path/to/file.db", "redis://host:6379" or "postgres://user@host/db"',
    );
  });

  it('says the same about a bad Redis URL at register() and in the backend, never quoting the password', () => {
    for (const url of ['redis://me:secret@127.0.0.1:abc', 'redis:///2', 'redis://me:secret@h:6379/abc', 'redis://h/2x']) {
      const atRegister = messageOf(() => chooseBackend(input(url)));
      expect(messageOf(() => redisSettings(url, undefined))).toBe(atRegister);
      expect(atRegister).toMatch(/^DeFlow\.register options\.backend: /);
      expect(atRegister).not.toContain('secret');
    }
    expect(messageOf(() => chooseBackend(input('redis:///2')))).toMatch(/names no host/);
    expect(chooseBackend(input('redis://h:6379/2/')).kind).toBe('redis');
  });

  it('says the same about a bad PostgreSQL URL at register() and in the backend, never quoting the password', () => {
    for (const url of ['postgres://me:secret@h:abc/db', 'postgres://me:se/cr?et@db/app', 'postgres://me:secret@/app']) {
      const atRegister = messageOf(() => chooseBackend(input(url)));
      expect(messageOf(() => new PostgresBackend({ url, schema: 'x', poolSize: 1, recoverIntervalMs: 0 }))).toBe(atRegister);
      expect(atRegister).toMatch(/^DeFlow\.register options\.backend is not a PostgreSQL URL/);
      expect(atRegister).not.toContain('secret');
    }
  });

  it('checks a prefix or schema whichever backend is chosen, and says which backend ignores it', () => {
    expect(messageOf(() => chooseBackend(input('sqlite:./x.db', { prefix: 'a{b}' })))).toMatch(/options\.prefix must be a non-empty string without/);
    expect(messageOf(() => chooseBackend(input('redis://h', { schema: 'pg_x' })))).toMatch(/"pg_" are reserved/);
    const onSqlite = input('sqlite:./x.db', { prefix: 'app', schema: 'app' });
    expect(ignoredOptions(onSqlite, chooseBackend(onSqlite))).toEqual([
      'DeFlow.register options.prefix only applies to Redis; the sqlite backend ignores it',
      'DeFlow.register options.schema only applies to PostgreSQL; the sqlite backend ignores it',
    ]);
    const onRedis = input('redis://h', { prefix: 'app' });
    expect(ignoredOptions(onRedis, chooseBackend(onRedis))).toEqual([]);
    const onPostgres = input('postgres://u@h/db', { prefix: 'app', schema: 'app' });
    expect(ignoredOptions(onPostgres, chooseBackend(onPostgres))).toEqual([
      'DeFlow.register options.prefix only applies to Redis; the postgres backend ignores it',
    ]);
  });

  describe('loads a driver only for the backend that uses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deflow-drivers-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    async function driversAfter(mode: 'register' | 'create', url: string): Promise<Record<string, boolean>> {
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', FIXTURE, mode, url]);
      return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, boolean>;
    }

    it('a process that runs a workflow on SQLite loads neither ioredis nor pg', async () => {
      expect(await driversAfter('register', `sqlite:${join(dir, 'deflow.db')}`)).toEqual({ ioredis: false, pg: false, 'better-sqlite3': true });
    });

    it('a Redis or PostgreSQL backend loads its own driver only', async () => {
      expect(await driversAfter('create', 'redis://127.0.0.1:1')).toEqual({ ioredis: true, pg: false, 'better-sqlite3': false });
      expect(await driversAfter('create', 'postgres://u@127.0.0.1:1/db')).toEqual({ ioredis: false, pg: true, 'better-sqlite3': false });
    });
  });
});
