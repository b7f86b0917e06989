/**
 * The configuration of the Redis backend, checked in one place: the URL (parsed here and only
 * here), DeFlow's `connection` object, and the key prefix. Light on purpose: the registry reads
 * it without loading ioredis.
 *
 * Accepted forms: DeFlow's `connection: { host, port, password, db, tls, maxAttempts,
 * connectTimeout, retryMaxDelay }` (the URL is then `redis:`), or a
 * `redis://[user:password@]host[:port][/db]` / `rediss://…` URL (TLS).
 *
 * Redis Cluster: `connection: { cluster: [{ host, port }, …], password, tls, … }`, or a
 * `redis+cluster://[user:password@]host:port,host:port[/0]` / `rediss+cluster://…` URL. The
 * nodes listed are where the client starts; it learns the others from the cluster itself.
 * A cluster has one database only, so `db` is 0 or absent.
 */
import { ValidationError } from '../../errors.js';
import { checkKnownKeys, checkObject, describe, duration, integer, isPlainObject, nonEmptyString } from '../../option-checks.js';
import type { BackendInput } from '../descriptor.js';
import { redactUrl } from '../redact-url.js';

/** One node a cluster client starts from. */
export interface RedisClusterNode {
  host: string;
  port: number;
}

/** Redis connection in DeFlow's shape. */
export interface RedisConnectionOptions {
  /** Redis Cluster: the nodes to start from (instead of host and port). */
  cluster?: RedisClusterNode[];
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

/** What a `redis+cluster://` / `rediss+cluster://` URL says. */
export interface RedisClusterUrl {
  nodes: RedisClusterNode[];
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

const WHERE = 'DeFlow.register options';
const CONNECTION_KEYS = ['cluster', 'host', 'port', 'password', 'db', 'tls', 'maxAttempts', 'connectTimeout', 'retryMaxDelay'];

/** True for the URLs that stand for DeFlow's `connection` object rather than name a server. */
export function isConnectionUrl(url: string): boolean {
  return url === 'redis:' || url === 'rediss:';
}

/** The configuration DeFlow.register's options describe; throws a ValidationError for anything Redis cannot use. */
/** True for `redis+cluster://…` and `rediss+cluster://…` URLs. */
export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:/i.test(url);
}

export function parseRedisConfig(input: BackendInput): RedisConfig {
  if (isClusterUrl(input.url)) {
    parseRedisClusterUrl(input.url);
    if (input.connection !== undefined && isPlainObject(input.connection) && input.connection.cluster !== undefined) {
      throw new ValidationError(`${WHERE}: give the cluster's nodes either in the backend URL or in connection.cluster, not both`);
    }
  } else if (!isConnectionUrl(input.url)) parseRedisUrl(input.url);
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

/**
 * A `redis+cluster://[user:password@]host:port,host:port[/0]` URL. Parsed by hand: a list of
 * hosts is not a URL authority `new URL` accepts. A path, if any, is database 0.
 */
export function parseRedisClusterUrl(url: string): RedisClusterUrl {
  const shown = JSON.stringify(redactUrl(url));
  const form = 'redis+cluster://[user:password@]host:port[,host:port…]';
  const match = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  if (match === null) throw new ValidationError(`${WHERE}.backend: ${shown} is not a valid cluster URL; expected the form ${form}`);
  const [, scheme = '', credentials, hosts = '', path = ''] = match;
  const database = path.replace(/^\//, '').replace(/\/$/, '');
  if (database !== '' && database !== '0') {
    throw new ValidationError(`${WHERE}.backend: a Redis Cluster has database 0 only, got ${JSON.stringify(database)} in ${shown}`);
  }
  const nodes = hosts.split(',').map((entry) => {
    const node = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(entry.trim());
    const port = node?.[2] === undefined ? 6379 : Number(node[2]);
    if (node === null || port < 1 || port > 65_535) {
      throw new ValidationError(`${WHERE}.backend: ${JSON.stringify(entry)} in ${shown} is not a host[:port]; expected the form ${form}`);
    }
    return { host: (node[1] ?? '').replace(/^\[|\]$/g, ''), port };
  });
  let username: string | undefined;
  let password: string | undefined;
  if (credentials !== undefined && credentials !== '') {
    const colon = credentials.indexOf(':');
    const user = colon < 0 ? credentials : credentials.slice(0, colon);
    username = user === '' ? undefined : decodeURIComponent(user);
    password = colon < 0 ? undefined : decodeURIComponent(credentials.slice(colon + 1));
  }
  return { nodes, username, password, tls: scheme.toLowerCase() === 'rediss' };
}

/** DeFlow's `connection` fields, checked at register() rather than when connecting. */
function checkConnection(given: unknown): RedisConnectionOptions {
  const where = `${WHERE}.connection`;
  const raw = checkObject(given, where);
  checkKnownKeys(raw, CONNECTION_KEYS, where);
  if (raw.cluster !== undefined) checkClusterNodes(raw, where);
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

/** `connection.cluster`: a non-empty list of { host, port }, and nothing that names one server. */
function checkClusterNodes(raw: Record<string, unknown>, where: string): void {
  const nodes = raw.cluster;
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw new ValidationError(`${where}.cluster must be a non-empty array of { host, port }, got ${describe(nodes)}`);
  }
  nodes.forEach((node: unknown, i) => {
    const at = `${where}.cluster[${i}]`;
    const entry = checkObject(node, at);
    checkKnownKeys(entry, ['host', 'port'], at);
    nonEmptyString(entry.host, `${at}.host`);
    integer(entry.port, `${at}.port`, 1, '', 65_535);
  });
  for (const single of ['host', 'port'] as const) {
    if (raw[single] !== undefined) throw new ValidationError(`${where}.${single} and ${where}.cluster exclude each other: list every node in cluster`);
  }
  if (raw.db !== undefined && raw.db !== 0) throw new ValidationError(`${where}.db must be 0 or absent with cluster: a Redis Cluster has database 0 only`);
}
