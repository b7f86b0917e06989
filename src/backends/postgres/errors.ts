/**
 * Maps PostgreSQL failures to deflow errors. A refusal of the step machine is raised by the SQL
 * functions (refuse(), functions/02_step_machine.sql) with deflow's SQLSTATE DFL00 and its
 * record as DETAIL, and becomes the DeflowError `refusalError` words; anything else is a
 * BackendError naming the server and keeping the pg error as its cause (a
 * BackendUnavailableError when the server was unreachable or dropped the connection).
 */
import { BackendError, BackendUnavailableError, DeflowError } from '../../errors.js';
import { refusalError } from '../failures.js';
import type { RefusalRecord } from '../failures.js';

/** SQLSTATE of a refusal: its record (JSON) is the error's DETAIL. */
const REFUSAL_SQLSTATE = 'DFL00';

export function toDeflowError(error: unknown, location: string): Error {
  if (error instanceof DeflowError) return error;
  const { code, detail } = (error ?? {}) as { code?: unknown; detail?: unknown };
  if (code === REFUSAL_SQLSTATE && typeof detail === 'string') return refusalError(JSON.parse(detail) as RefusalRecord);
  const message = error instanceof Error ? error.message : String(error);
  const shown = typeof code === 'string' ? ` ${code}` : '';
  const Failure = isUnavailable(error) ? BackendUnavailableError : BackendError;
  return new Failure(`PostgreSQL error${shown} on ${location}: ${message}`, { cause: error });
}

/** Socket errors of a server that is not (yet) there, or not reachable right now. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * SQLSTATEs of a server going away or not ready: class 08 (connection exception), 57P01-57P03
 * (terminated by an administrator or a crash, "the database system is starting up"), 53300 (too
 * many connections). A refused password (28xxx) or a missing database (3D000) is not.
 */
function isUnavailableState(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';
}

/** The server could not be reached or dropped the connection: trying again later may work. */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof BackendUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || isUnavailableState(code))) return true;
  // pg's own words for a connection that ended or never answered.
  return /^Connection terminated|timeout expired|timeout exceeded when trying to connect/i.test(error.message) || isUnavailable(error.cause);
}
