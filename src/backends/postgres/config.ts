/**
 * Connection settings of the PostgreSQL backend, derived from the register options:
 * the URL, the schema (validated: it names the tables, the functions and the NOTIFY channel),
 * and the pg client options every connection of the backend shares.
 */
import type { ClientConfig } from 'pg';

export { DEFAULT_SCHEMA, checkSchemaName } from '../names.js';
/** Connections of the pool (the event channel has one more of its own). */
export const DEFAULT_POOL_SIZE = 5;

export interface PostgresConfig {
  /** Connection URL as given (postgres:// or postgresql://). */
  url: string;
  schema: string;
  poolSize: number;
  /** The node's checkProcessQueueInterval: the watchdog runs at most about this often across nodes. */
  recoverIntervalMs: number;
}


/**
 * Options of every connection: the search_path pins the schema from the first packet on (no
 * query can run elsewhere), and the application name lets operators tell deflow's connections
 * apart in pg_stat_activity (a URL `application_name` wins).
 */
export function clientConfig(config: PostgresConfig): ClientConfig {
  const url = new URL(config.url);
  const extraOptions = url.searchParams.get('options');
  url.searchParams.delete('options');
  const searchPath = `-c search_path=${config.schema}`;
  return {
    connectionString: url.toString(),
    options: extraOptions === null ? searchPath : `${extraOptions} ${searchPath}`,
    application_name: url.searchParams.get('application_name') ?? `deflow:${config.schema}`,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: 10_000,
  };
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
