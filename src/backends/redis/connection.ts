/**
 * Connection settings and the life of the two connections a process keeps to Redis: one for
 * commands and scripts, one subscribed to the prefix's event channel.
 *
 * Accepted forms: DeFlow's `connection: { host, port, password, db, tls, maxAttempts,
 * connectTimeout, retryMaxDelay }` or a `redis://[user:password@]host[:port][/db]` /
 * `rediss://…` URL (TLS).
 *
 * Connection loss: commands fail at once while disconnected (no offline queue, no silent
 * resend of a script that may already have run), with a BackendError saying so; the engine
 * pauses claiming, keeps its results and retries. ioredis reconnects with exponential
 * backoff capped at `retryMaxDelay`, forever unless `maxAttempts` is set.
 */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import createDebug from 'debug';
import type { RedisConnectionOptions } from '../../api/options.js';
import { BackendError, ValidationError } from '../../errors.js';

const debug = createDebug('deflow:redis:connection');

export interface RedisSettings {
  options: RedisOptions;
  /** host:port/db, without credentials. */
  location: string;
}

const DEFAULT_RETRY_MAX_DELAY_MS = 2_000;

/** Turns the register options into ioredis options. `url` is `redis:` when `connection` is used. */
export function redisSettings(url: string, connection: RedisConnectionOptions | undefined): RedisSettings {
  const where = 'DeFlow.register options';
  let host = connection?.host ?? '127.0.0.1';
  let port = connection?.port ?? 6379;
  let password = connection?.password;
  let username: string | undefined;
  let db = connection?.db ?? 0;
  let tls = connection?.tls ?? false;
  if (url !== 'redis:' && url !== 'rediss:') {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ValidationError(`${where}.backend: ${JSON.stringify(url)} is not a valid URL; use redis://host:6379/0 or rediss://…`);
    }
    host = parsed.hostname || '127.0.0.1';
    port = parsed.port === '' ? 6379 : Number(parsed.port);
    if (parsed.username !== '') username = decodeURIComponent(parsed.username);
    if (parsed.password !== '') password = decodeURIComponent(parsed.password);
    const path = parsed.pathname.replace(/^\//, '');
    if (path !== '') {
      db = Number(path);
      if (!Number.isInteger(db) || db < 0) throw new ValidationError(`${where}.backend: the database in ${JSON.stringify(url)} must be a number, got "${path}"`);
    }
    tls = parsed.protocol === 'rediss:';
  } else if (url === 'rediss:') {
    tls = true;
  }
  if (connection?.db !== undefined && (!Number.isInteger(connection.db) || connection.db < 0)) {
    throw new ValidationError(`${where}.connection.db must be a non-negative integer, got ${String(connection.db)}`);
  }
  const maxAttempts = connection?.maxAttempts;
  if (maxAttempts !== undefined && (!Number.isInteger(maxAttempts) || maxAttempts < 1)) {
    throw new ValidationError(`${where}.connection.maxAttempts must be a positive integer (reconnect attempts), got ${String(maxAttempts)}`);
  }
  const retryMaxDelay = connection?.retryMaxDelay ?? DEFAULT_RETRY_MAX_DELAY_MS;
  if (!Number.isInteger(retryMaxDelay) || retryMaxDelay < 1) {
    throw new ValidationError(`${where}.connection.retryMaxDelay must be a positive integer (milliseconds), got ${String(retryMaxDelay)}`);
  }
  const options: RedisOptions = {
    host,
    port,
    db,
    lazyConnect: true,
    // A command in flight when the connection drops must fail, not wait or be resent: a
    // resent script may run twice, and one that silently waits blocks the node. ioredis
    // drops unfulfilled commands without settling them when resending is off, unless
    // maxRetriesPerRequest is 0, which rejects them at the first disconnect.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: connection?.connectTimeout ?? 10_000,
    retryStrategy: (times) => (maxAttempts !== undefined && times > maxAttempts ? null : Math.min(retryMaxDelay, 50 * 2 ** Math.min(times, 10))),
  };
  if (password !== undefined) options.password = password;
  if (username !== undefined) options.username = username;
  if (tls) options.tls = {};
  return { options, location: `${tls ? 'rediss' : 'redis'}://${host}:${port}/${db}` };
}

export type LinkState = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/**
 * One ioredis client with the bookkeeping deflow needs: its state, the last error it saw,
 * and a callback each time it (re)connects.
 */
export class RedisLink {
  readonly client: Redis;
  state: LinkState = 'connecting';
  private lastError: Error | null = null;
  private readyCount = 0;

  constructor(
    private readonly settings: RedisSettings,
    readonly role: 'commands' | 'events',
    private readonly onReady: (link: RedisLink, reconnected: boolean) => void,
  ) {
    this.client = new Redis({ ...settings.options, connectionName: `deflow-${role}` });
    this.client.on('error', (error: Error) => {
      this.lastError = error;
      debug('%s connection to %s: %s', role, settings.location, error.message);
    });
    this.client.on('ready', () => {
      this.state = 'ready';
      this.readyCount++;
      this.onReady(this, this.readyCount > 1);
    });
    this.client.on('reconnecting', () => {
      if (this.state !== 'closed') this.state = 'reconnecting';
    });
    this.client.on('end', () => {
      if (this.state !== 'closed') this.state = 'closed';
    });
  }

  async open(): Promise<void> {
    try {
      await this.client.connect();
    } catch (error) {
      this.close();
      // ioredis rejects with "Connection is closed."; the socket error it saw says why.
      const reason = (this.lastError ?? (error as Error)).message.replace(/\.+$/, '');
      throw new BackendError(
        `cannot reach Redis at ${this.settings.location}: ${reason}. ` +
          'Check that it runs and that host, port, password and TLS are right.',
        { cause: error },
      );
    }
  }

  /**
   * Closes the connection at once (no QUIT round trip): by the time deflow closes its
   * backend, every write it cares about was awaited. Synchronous on purpose, so closing does
   * not yield to the event loop.
   */
  close(): void {
    this.state = 'closed';
    this.client.disconnect();
  }

  /** A BackendError that says what happened to a failed command, and what deflow does about it. */
  wrap(error: unknown, during: string): Error {
    if (error instanceof BackendError || error instanceof ValidationError) return error;
    const cause = error instanceof Error ? error : new Error(String(error));
    if (this.state !== 'ready' || /Connection is closed|Stream isn't writeable|max retries per request|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE/i.test(cause.message)) {
      const last = this.lastError === null ? '' : ` (last error: ${this.lastError.message})`;
      return new BackendError(
        `lost the connection to Redis at ${this.settings.location} during ${during}${last}; reconnecting with backoff. ` +
          'Claiming pauses meanwhile; finished results are kept and written when Redis is back.',
        { cause },
      );
    }
    return new BackendError(`Redis at ${this.settings.location} failed ${during}: ${cause.message}`, { cause });
  }
}
