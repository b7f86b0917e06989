/**
 * Connection settings of the PostgreSQL backend, derived from the register options:
 * the URL, the schema (validated: it names the tables, the functions and the NOTIFY channel),
 * and the pg client options every connection of the backend shares.
 */
import type { ClientConfig } from 'pg';
import { ValidationError } from '../../errors.js';

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
  const url = parseUrl(config.url);
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

/**
 * The connection URL, parsed; a ValidationError naming the option, saying what is wrong and
 * showing the URL without its password when it cannot be (a raw TypeError said neither).
 */
export function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new ValidationError(
      `DeFlow.register options.backend is not a PostgreSQL URL deflow can use: ${whyUnparsable(url)}, in ${redactUrl(url)} ` +
        '(expected postgres://user:password@host:5432/database)',
    );
  }
}

/** The URL without its password, for messages (also when it does not parse). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    // Everything between the first ":" of the user info and the last "@" may be password.
    const start = url.indexOf('://') + 3;
    const at = url.lastIndexOf('@');
    const colon = url.indexOf(':', start);
    if (start < 3 || at < start || colon < 0 || colon > at) return url;
    return `${url.slice(0, colon)}:***${url.slice(at)}`;
  }
}

/** What makes `url` unparsable, in words that never quote the password. */
function whyUnparsable(url: string): string {
  const start = url.indexOf('://');
  if (start < 0) return 'it does not start with postgres:// or postgresql://';
  const rest = url.slice(start + 3);
  const authority = rest.split(/[/?#]/, 1)[0] ?? '';
  const at = authority.lastIndexOf('@');
  if (at < 0 && rest.includes('@')) return 'the user name or password has a "/", "?" or "#" that must be percent-encoded';
  const host = authority.slice(at + 1);
  if (host === '' && at >= 0) return 'the host is empty';
  const port = host.startsWith('[') ? /\]:(.*)$/.exec(host)?.[1] : host.includes(':') ? host.slice(host.lastIndexOf(':') + 1) : undefined;
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) <= 65_535)) return 'the port is not a number from 0 to 65535';
  return 'it is not a valid URL';
}
