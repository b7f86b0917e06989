/**
 * Names a backend builds its storage from, checked in one place: by DeFlow.register (so a bad
 * one throws at the call) and by the backends themselves.
 */
import { ValidationError } from '../errors.js';

export const DEFAULT_SCHEMA = 'deflow';

/** Lowercase, unquoted-safe, and short enough for the channel name "deflow.<schema>" (63 bytes). */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;

/** The PostgreSQL schema deflow keeps its tables in. */
export function checkSchemaName(schema: string | undefined): string {
  const name = schema ?? DEFAULT_SCHEMA;
  if (name.startsWith('pg_')) {
    throw new ValidationError(`DeFlow.register options.schema: names starting with "pg_" are reserved by PostgreSQL, got ${JSON.stringify(name)}`);
  }
  if (!SCHEMA_NAME.test(name)) {
    throw new ValidationError(
      `DeFlow.register options.schema must be a lowercase PostgreSQL name (a-z, 0-9 and _, starting with a letter or _, ` +
        `at most 48 characters), got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** The Redis key prefix: braces would break the hash tags that keep a workflow in one slot. */
export function checkRedisPrefix(prefix: string): string {
  if (prefix.length === 0 || /[{}]/.test(prefix)) {
    throw new ValidationError(`DeFlow.register options.prefix must be a non-empty string without "{" or "}", got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}
