/**
 * How a backend describes itself to the registry (registry.ts): the URL schemes it takes, the
 * register options only it reads, a synchronous check of its configuration, and a factory.
 *
 * A descriptor module (a backend's index.ts) imports nothing but its backend's config.ts, so
 * choosing and checking a backend loads no driver; `create` imports the implementation on
 * demand, and a process that uses SQLite never loads ioredis or pg.
 */
import type { Backend } from './backend.js';

/** The register options a backend may read, as DeFlow.register resolved them. */
export interface BackendInput {
  /** The backend URL; `redis:` stands for DeFlow's `connection` object. */
  url: string;
  /** DeFlow's Redis `connection` object as the user gave it (the Redis backend checks it). */
  connection: unknown;
  prefix: string | undefined;
  schema: string | undefined;
  /** Milliseconds between checks for changes made by other processes (SQLite). */
  pollIntervalMs: number;
  /** The node's checkProcessQueueInterval, in milliseconds. */
  recoverIntervalMs: number;
}

/** How a backend is opened. */
export interface CreateOptions {
  /**
   * Only look (deflow ls / show): never create, migrate or write the store, and refuse one
   * that does not exist or that this version would have to migrate first.
   */
  readOnly?: boolean;
}

/** Register options that isolate one backend's data from other apps': each is read by one backend only. */
export type IsolationOption = 'prefix' | 'schema';

export interface BackendDescriptor<Kind extends string, Config> {
  readonly kind: Kind;
  /** The backend's name in messages: "PostgreSQL". */
  readonly label: string;
  /** URL schemes it takes, colon included: `['redis:', 'rediss:']`. */
  readonly schemes: readonly string[];
  /** A URL to show when a URL names no backend: `redis://host:6379`. */
  readonly example: string;
  /**
   * The isolation options this backend reads, each with its check (which returns the value).
   * Given with another backend they isolate nothing: the registry still checks them, so a typo
   * fails before an app switches backends, and says that the chosen backend ignores them.
   */
  readonly isolationOptions: Readonly<Partial<Record<IsolationOption, (value: string) => string>>>;
  /** Checks the input and builds the configuration; synchronous, so DeFlow.register throws at the call. */
  parseConfig(input: BackendInput): Config;
  /** Builds the backend (not yet opened), loading its implementation. */
  create(config: Config, options?: CreateOptions): Promise<Backend>;
}
