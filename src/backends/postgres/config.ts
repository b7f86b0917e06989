/**
 * The configuration of the PostgreSQL backend, checked in one place: the URL (parsed here and
 * only here), the schema (it names the tables, the functions and the NOTIFY channel), and the
 * pg client options every connection of the backend shares. Light on purpose: the registry
 * reads it without loading pg, and its declarations name none of pg's types (the published
 * declarations reach this module, and @types/pg is not a dependency of the package).
 */
import { ValidationError } from '../../errors.js';
import type { BackendInput } from '../descriptor.js';
import { redactUrl } from '../redact-url.js';

export { redactUrl } from '../redact-url.js';

export const DEFAULT_SCHEMA = 'deflow';
/** Connections of the pool (the event channel has one more of its own). */
export const DEFAULT_POOL_SIZE = 5;

/** Lowercase, unquoted-safe, and short enough for the channel name "deflow.<schema>" (63 bytes). */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;
const EXPECTED_FORM = 'postgres://user:password@host:5432/database';

export interface PostgresConfig {
  /** Connection URL as given (postgres:// or postgresql://). */
  url: string;
  schema: string;
  poolSize: number;
  /** The node's checkProcessQueueInterval: the watchdog runs at most about this often across nodes. */
  recoverIntervalMs: number;
}

/** The pg client options deflow sets on every connection: the part of pg's ClientConfig it uses. */
export interface PostgresClientOptions {
  connectionString: string;
  /** Server settings sent in the startup packet (`-c name=value …`). */
  options: string;
  application_name: string;
  keepAlive: boolean;
  keepAliveInitialDelayMillis: number;
  connectionTimeoutMillis: number;
}

/** The configuration DeFlow.register's options describe; throws a ValidationError for a URL or schema it cannot use. */
export function parsePostgresConfig(input: BackendInput): PostgresConfig {
  const url = parseUrl(input.url);
  const fromUrl = url.searchParams.getAll('schema');
  if (fromUrl.length > 1) {
    throw new ValidationError(`DeFlow.register options.backend gives ?schema= ${fromUrl.length} times, in ${redactUrl(input.url)}: give it once`);
  }
  const urlSchema = fromUrl[0];
  if (urlSchema !== undefined && input.schema !== undefined && urlSchema !== input.schema) {
    throw new ValidationError(
      `DeFlow.register options.schema is ${JSON.stringify(input.schema)} but the backend URL says ?schema=${urlSchema}: ` +
        'give the schema in one place (the schema option, --schema, or ?schema= in the URL)',
    );
  }
  // deflow's parameter, not the server's: pg never sees it.
  url.searchParams.delete('schema');
  return {
    url: urlSchema === undefined ? input.url : url.toString(),
    schema: input.schema === undefined && urlSchema !== undefined ? checkSchemaName(urlSchema, 'the backend URL\'s ?schema=') : checkSchemaName(input.schema),
    poolSize: DEFAULT_POOL_SIZE,
    recoverIntervalMs: input.recoverIntervalMs,
  };
}

/** The PostgreSQL schema deflow keeps its tables in. */
export function checkSchemaName(schema: string | undefined, where = 'DeFlow.register options.schema'): string {
  const name = schema ?? DEFAULT_SCHEMA;
  if (name.startsWith('pg_')) {
    throw new ValidationError(`${where}: names starting with "pg_" are reserved by PostgreSQL, got ${JSON.stringify(name)}`);
  }
  if (!SCHEMA_NAME.test(name)) {
    throw new ValidationError(
      `${where} must be a lowercase PostgreSQL name (a-z, 0-9 and _, starting with a letter or _, ` +
        `at most 48 characters), got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/**
 * Options of every connection: the search_path pins the schema from the first packet on (no
 * query can run elsewhere), and the application name lets operators tell deflow's connections
 * apart in pg_stat_activity (a URL `application_name` wins).
 */
export function clientConfig(config: PostgresConfig): PostgresClientOptions {
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
    // Both phrasings are pinned by tests (the backend's and DeFlow.register's).
    const shown = redactUrl(url);
    throw new ValidationError(
      `DeFlow.register options.backend is not a PostgreSQL URL deflow can use: ${whyUnparsable(url)}, in ${shown} ` +
        `(${JSON.stringify(shown)} is not a valid URL; expected ${EXPECTED_FORM})`,
    );
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
