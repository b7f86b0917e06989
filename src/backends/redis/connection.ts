/**
 * Connection settings and the life of the two connections a process keeps to Redis: one for
 * commands and scripts, one subscribed to the prefix's event channel. The accepted forms of
 * URL and `connection` are checked in config.ts.
 *
 * Connection loss: commands fail at once while disconnected (no offline queue, no silent
 * resend of a script that may already have run), with a BackendError saying so; the engine
 * pauses claiming, keeps its results and retries. ioredis reconnects with exponential
 * backoff capped at `retryMaxDelay`, forever unless `maxAttempts` is set.
 *
 * A link fails for good (state 'failed', `onFailed` called once) when ioredis gives up
 * reconnecting after `maxAttempts`, or when the server refuses the configured database on a
 * reconnect; from then on `wrap` returns that final error instead of "reconnecting".
 *
 * Lifecycle:  connecting -> ready <-> reconnecting;  any -> closed (close());
 *             ready | reconnecting -> failed (gave up, or the database was refused)
 */
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import createDebug from 'debug';
import { BackendError, BackendUnavailableError, ValidationError } from '../../errors.js';
import { faultPoint } from '../../fault-points.js';
import { isClusterUrl, isConnectionUrl, parseRedisClusterUrl, parseRedisUrl } from './config.js';
import type { RedisClusterNode, RedisConnectionOptions } from './config.js';

const debug = createDebug('deflow:redis:connection');

/** A client of one server or of a Redis Cluster: the same commands, routed by key on a cluster. */
export type RedisClient = Redis | Cluster;

export interface RedisSettings {
  options: RedisOptions;
  /** Redis Cluster: the nodes to start from; undefined for one server. */
  cluster: RedisClusterNode[] | undefined;
  /** host:port/db, without credentials. */
  location: string;
  /** Reconnect attempts before giving up for good; undefined: forever. */
  maxAttempts: number | undefined;
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
  let cluster = connection?.cluster;
  if (isClusterUrl(url)) {
    const parsed = parseRedisClusterUrl(url);
    cluster = parsed.nodes;
    username = parsed.username;
    password = parsed.password ?? password;
    tls = parsed.tls;
  } else if (!isConnectionUrl(url)) {
    const parsed = parseRedisUrl(url);
    host = parsed.host;
    port = parsed.port;
    username = parsed.username;
    password = parsed.password ?? password;
    db = parsed.db ?? db;
    tls = parsed.tls;
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
  // `tls: { ca, … }` goes to node:tls as given; `true` (or rediss://) uses Node's defaults.
  if (tls !== false) options.tls = tls === true ? {} : tls;
  if (cluster !== undefined) {
    const nodes = cluster.map((node) => `${node.host}:${node.port}`).join(',');
    return { options, cluster, location: `${tls ? 'rediss' : 'redis'}+cluster://${nodes}`, maxAttempts };
  }
  return { options, cluster, location: `${tls ? 'rediss' : 'redis'}://${host}:${port}/${db}`, maxAttempts };
}

/**
 * The ioredis Cluster for these settings, with the single-server rules carried over: no
 * offline queue, and no silent resend of a command whose connection closed (a script may
 * have run). MOVED, ASK and TRYAGAIN are followed: the server did not run the command.
 */
function clusterClient(settings: RedisSettings, nodes: RedisClusterNode[], connectionName: string): Cluster {
  const { host: _host, port: _port, db: _db, retryStrategy, enableOfflineQueue: _queue, lazyConnect: _lazy, ...perNode } = settings.options;
  const options: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    // Every command and script reads what the last write left: masters only.
    scaleReads: 'master',
    retryDelayOnFailover: 0,
    // A failover takes the cluster down for a moment: commands fail (engine retries), not wait.
    retryDelayOnClusterDown: 0,
    clusterRetryStrategy: (times) => retryStrategy?.(times) ?? null,
    redisOptions: { ...perNode, connectionName },
  };
  return new Cluster(
    nodes.map((node) => ({ host: node.host, port: node.port })),
    options,
  );
}

export type LinkState = 'connecting' | 'ready' | 'reconnecting' | 'closed' | 'failed';

/** What a link reports when it stops for good. */
export type LinkFailed = (link: RedisLink, error: BackendError) => void;

/**
 * One ioredis client with the bookkeeping deflow needs: its state, the last error it saw,
 * a callback each time it (re)connects, and one when it stops for good.
 */
export class RedisLink {
  readonly client: RedisClient;
  state: LinkState = 'connecting';
  /** Why the link stopped for good (state 'failed'). */
  failure: BackendError | null = null;
  private lastError: Error | null = null;
  /** The server refused the credentials while opening: said instead of any later socket error. */
  private authError: Error | null = null;
  private readyCount = 0;
  /** open() succeeded: later trouble is this link's to report, not open()'s. */
  private opened = false;

  constructor(
    private readonly settings: RedisSettings,
    readonly role: 'commands' | 'events',
    private readonly onReady: (link: RedisLink, reconnected: boolean) => void,
    private readonly onFailed: LinkFailed = () => undefined,
  ) {
    this.client =
      settings.cluster === undefined
        ? new Redis({ ...settings.options, connectionName: `deflow-${role}` })
        : clusterClient(settings, settings.cluster, `deflow-${role}`);
    this.client.on('error', (error: Error) => {
      this.lastError = error;
      if (!this.opened && isAuthError(error)) this.authError ??= error;
      debug('%s connection to %s: %s', role, settings.location, error.message);
      // ioredis only emits a refused SELECT and goes on in database 0: never write there.
      // open() checks the first connection itself; a reconnect is checked here.
      if (isSelectError(error) && this.opened) this.fail(this.databaseError(error));
    });
    this.client.on('ready', () => {
      if (this.state === 'closed' || this.state === 'failed') return;
      this.state = 'ready';
      this.readyCount++;
      this.onReady(this, this.readyCount > 1);
    });
    this.client.on('connect', () => {
      // Connected again, not subscribed yet (ioredis subscribes again once the server is ready).
      if (role === 'events' && this.readyCount > 0) faultPoint('events:reconnected');
    });
    this.client.on('reconnecting', () => {
      if (this.state === 'ready' || this.state === 'connecting') this.state = 'reconnecting';
    });
    this.client.on('end', () => {
      if (this.state === 'closed' || this.state === 'failed') return;
      // While opening, open() reports why it could not connect.
      if (!this.opened) this.state = 'closed';
      else this.fail(this.gaveUpError());
    });
  }

  async open(): Promise<void> {
    try {
      await this.client.connect();
    } catch (error) {
      this.close();
      // ioredis rejects with "Connection is closed."; the socket error it saw says why.
      if (this.authError !== null) throw this.credentialsError(this.authError);
      const seen = this.lastError ?? (error as Error);
      if (isAuthError(seen)) throw this.credentialsError(seen);
      const reason = seen.message.replace(/\.+$/, '');
      // A server that is down or still starting is worth waiting for; a refused password is not.
      const Failure = isUnreachable(seen) ? BackendUnavailableError : BackendError;
      throw new Failure(
        `cannot reach Redis at ${this.settings.location}: ${reason}. ` +
          'Check that it runs and that host, port, password and TLS are right.',
        { cause: error },
      );
    }
    const db = this.settings.options.db ?? 0;
    if (db !== 0 && this.client instanceof Redis) {
      // ioredis swallowed a refused SELECT at connect: ask again and hear the answer.
      try {
        await this.client.select(db);
      } catch (error) {
        this.close();
        throw this.databaseError(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.opened = true;
  }

  /**
   * Closes the connection at once (no QUIT round trip): by the time deflow closes its
   * backend, every write it cares about was awaited. Synchronous on purpose, so closing does
   * not yield to the event loop.
   */
  close(): void {
    if (this.state !== 'failed') this.state = 'closed';
    this.client.disconnect();
  }

  /** A BackendError that says what happened to a failed command, and what deflow does about it. */
  wrap(error: unknown, during: string): Error {
    if (this.failure !== null) return this.failure;
    if (error instanceof BackendError || error instanceof ValidationError) return error;
    const cause = error instanceof Error ? error : new Error(String(error));
    if (this.state !== 'ready' || UNAVAILABLE.test(cause.message)) {
      const last = this.lastError === null ? '' : ` (last error: ${this.lastError.message})`;
      return new BackendUnavailableError(
        `lost the connection to Redis at ${this.settings.location} during ${during}${last}; reconnecting with backoff. ` +
          'Claiming pauses meanwhile; finished results are kept and written when Redis is back.',
        { cause },
      );
    }
    return new BackendError(`Redis at ${this.settings.location} failed ${during}: ${cause.message}`, { cause });
  }

  /** Stops for good: no more reconnecting; `wrap` answers with `error` from now on. */
  fail(error: BackendError): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    this.state = 'failed';
    this.failure = error;
    this.client.disconnect();
    this.onFailed(this, error);
  }

  private gaveUpError(): BackendError {
    const attempts = this.settings.maxAttempts === undefined ? '' : ` after ${this.settings.maxAttempts} attempts (connection.maxAttempts)`;
    const last = this.lastError === null ? '' : `; last error: ${this.lastError.message.replace(/\.+$/, '')}`;
    return new BackendError(
      `gave up reconnecting to ${this.settings.location}${attempts}${last}. ` +
        'This process no longer uses Redis: its calls fail with this error and the workflows it waits for reject. ' +
        'Unregister and register DeFlow again once Redis is back.',
      { cause: this.lastError ?? undefined },
    );
  }

  /** A refused password or user: nothing to wait for (not a BackendUnavailableError, so never retried). */
  private credentialsError(error: Error): BackendError {
    const answer = error.message.replace(/\.+$/, '');
    const why = /^NOAUTH/i.test(answer)
      ? 'it requires a password and none was given'
      : this.settings.options.username === undefined
        ? 'it refused the password'
        : `it refused the user ${JSON.stringify(this.settings.options.username)} or its password`;
    return new BackendError(
      `cannot use Redis at ${this.settings.location}: ${why}; Redis answered "${answer}". ` +
        'Fix the user and password in the backend URL (redis://user:password@host:port) or in connection.password.',
    ); // no cause: ioredis's reply error to AUTH carries the password it sent
  }

  private databaseError(error: Error): BackendError {
    const db = this.settings.options.db ?? 0;
    const answer = error.message.replace(/\.+$/, '');
    const why = /out of range/i.test(answer)
      ? `the db index ${db} is out of range for this server (its \`databases\` setting, 16 by default, sets how many there are)`
      : `it refused database ${db}`;
    return new BackendError(`cannot use Redis at ${this.settings.location}: ${why}; Redis answered "${answer}". Use a database index the server has.`, {
      cause: error,
    });
  }
}

/** A reply error to SELECT (ioredis tags reply errors with their command). */
function isSelectError(error: Error): boolean {
  const command = (error as Error & { command?: { name?: unknown } }).command;
  return typeof command?.name === 'string' && command.name.toLowerCase() === 'select';
}

/** The server's answers to wrong or missing credentials (AUTH, or a command sent without it). */
function isAuthError(error: Error): boolean {
  return /^(WRONGPASS|NOAUTH|ERR invalid password|ERR AUTH|ERR Client sent AUTH)/i.test(error.message);
}

/**
 * Answers that mean "not now" rather than "no": a lost socket, or a cluster that is failing
 * over or moving slots (the command did not run; the engine tries again).
 */
const UNAVAILABLE =
  /Connection is closed|Stream isn't writeable|max retries per request|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|^CLUSTERDOWN|^TRYAGAIN|None of startup nodes is available|Failed to refresh slots cache|Cluster isn't ready|Too many Cluster redirections/i;

/** Socket errors of a server that is not (yet) there, or not reachable right now. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

/** The connection failed because nothing answered (yet), not because the server refused us. */
function isUnreachable(error: Error): boolean {
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
  // ioredis's own words when the socket closed before the server answered; LOADING: still reading its data.
  // A cluster client's word for "no startup node answered", and a cluster still forming.
  return /^(Connection is closed|LOADING|None of startup nodes is available|CLUSTERDOWN|Failed to refresh slots cache)/.test(error.message);
}
