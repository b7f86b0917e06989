/**
 * The configuration of the Redis backend, checked in one place: the URL (parsed here and only
 * here), DeFlow's `connection` object, and the key prefix. Light on purpose: the registry reads
 * it without loading ioredis.
 *
 * Accepted forms: DeFlow's `connection: { host, port, password, db, tls, maxAttempts,
 * connectTimeout, retryMaxDelay }` (the URL is then `redis:`), or a
 * `redis://[user:password@]host[:port][/db]` / `rediss://…` URL (TLS).
 */
import { ValidationError } from '../../errors.js';
import { checkKnownKeys, checkObject, describe, duration, integer, isPlainObject, nonEmptyString } from '../../option-checks.js';
import type { BackendInput } from '../descriptor.js';
import { redactUrl } from '../redact-url.js';

/** Redis connection in DeFlow's shape. */
export interface RedisConnectionOptions {
  host?: string;
  port?: number;
  password?: string;
  db?: number;
  /** true, or TLS options (as node:tls takes them). */
  tls?: boolean | Record<string, unknown>;
  maxAttempts?: number;
  connectTimeout?: number;
  retryMaxDelay?: number;
}

export interface RedisConfig {
  /** `redis:` (use `connection`), or a `redis://…` / `rediss://…` URL. */
  url: string;
  connection: RedisConnectionOptions | undefined;
  /** Key namespace; undefined: `deflow`. */
  prefix: string | undefined;
}

/** What a `redis://` / `rediss://` URL says. */
export interface RedisUrl {
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  /** The database index of the URL's path; undefined when it has none. */
  db: number | undefined;
  tls: boolean;
}

const WHERE = 'DeFlow.register options';
const CONNECTION_KEYS = ['host', 'port', 'password', 'db', 'tls', 'maxAttempts', 'connectTimeout', 'retryMaxDelay'];

/** True for the URLs that stand for DeFlow's `connection` object rather than name a server. */
export function isConnectionUrl(url: string): boolean {
  return url === 'redis:' || url === 'rediss:';
}

/** The configuration DeFlow.register's options describe; throws a ValidationError for anything Redis cannot use. */
export function parseRedisConfig(input: BackendInput): RedisConfig {
  if (!isConnectionUrl(input.url)) parseRedisUrl(input.url);
  return {
    url: input.url,
    connection: input.connection === undefined ? undefined : checkConnection(input.connection),
    prefix: input.prefix === undefined ? undefined : checkRedisPrefix(input.prefix),
  };
}

/** The Redis key prefix: braces would break the hash tags that keep a workflow in one slot. */
export function checkRedisPrefix(prefix: string): string {
  if (prefix.length === 0 || /[{}]/.test(prefix)) {
    throw new ValidationError(`${WHERE}.prefix must be a non-empty string without "{" or "}", got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

/** A `redis://` or `rediss://` URL, checked: a host, and as path nothing or a database index. */
export function parseRedisUrl(url: string): RedisUrl {
  const shown = JSON.stringify(redactUrl(url));
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError(`${WHERE}.backend: ${shown} is not a valid URL; expected the form redis://[user:password@]host[:port][/db]`);
  }
  if (parsed.hostname === '') throw new ValidationError(`${WHERE}.backend: ${shown} names no host; expected redis://host[:port][/db]`);
  // "/2" or "/2/"; digits only: Number() would take "0x10", "1e1" or " 2".
  const database = parsed.pathname.replace(/^\//, '').replace(/\/$/, '');
  if (database !== '' && !/^\d+$/.test(database)) {
    // Both phrasings are pinned by tests (the backend's and DeFlow.register's).
    throw new ValidationError(
      `${WHERE}.backend: the database in ${shown} must be a number, got ${JSON.stringify(database)}; ` +
        `the path of a Redis URL must be a database index (redis://host:6379/2), got ${JSON.stringify(parsed.pathname)}`,
    );
  }
  return {
    host: parsed.hostname,
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
    db: database === '' ? undefined : Number(database),
    tls: parsed.protocol === 'rediss:',
  };
}

/** DeFlow's `connection` fields, checked at register() rather than when connecting. */
function checkConnection(given: unknown): RedisConnectionOptions {
  const where = `${WHERE}.connection`;
  const raw = checkObject(given, where);
  checkKnownKeys(raw, CONNECTION_KEYS, where);
  if (raw.host !== undefined) nonEmptyString(raw.host, `${where}.host`);
  if (raw.port !== undefined) integer(raw.port, `${where}.port`, 1, '', 65_535);
  if (raw.password !== undefined && typeof raw.password !== 'string') {
    throw new ValidationError(`${where}.password must be a string, got ${describe(raw.password)}`);
  }
  if (raw.db !== undefined) integer(raw.db, `${where}.db`, 0, ' (a Redis database index)');
  if (raw.tls !== undefined && typeof raw.tls !== 'boolean' && !isPlainObject(raw.tls)) {
    throw new ValidationError(`${where}.tls must be true, false or an object of TLS options, got ${describe(raw.tls)}`);
  }
  if (raw.maxAttempts !== undefined) integer(raw.maxAttempts, `${where}.maxAttempts`, 1, ' (reconnect attempts)');
  if (raw.connectTimeout !== undefined) duration(raw.connectTimeout, `${where}.connectTimeout`, 1);
  if (raw.retryMaxDelay !== undefined) duration(raw.retryMaxDelay, `${where}.retryMaxDelay`, 1);
  return raw;
}
