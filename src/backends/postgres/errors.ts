/**
 * Maps PostgreSQL failures to deflow errors. A refusal of the step machine is raised by the SQL
 * functions (refuse(), functions/02_step_machine.sql) with deflow's SQLSTATE DFL00 and its
 * record as DETAIL, and becomes the DeflowError `refusalError` words; anything else is a
 * BackendError naming the server and keeping the pg error as its cause.
 */
import { BackendError, DeflowError } from '../../errors.js';
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
  return new BackendError(`PostgreSQL error${shown} on ${location}: ${message}`, { cause: error });
}
