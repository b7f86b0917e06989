/**
 * Maps PostgreSQL failures to deflow errors. The SQL functions raise deflow's own SQLSTATEs
 * (class DFL) for conditions the engine and users act on; anything else is a BackendError
 * naming the server and keeping the pg error as its cause.
 */
import { BackendError, DeflowError, LeaseLostError, NotFoundError, StepClosedError, ValidationError } from '../../errors.js';

const BY_SQLSTATE: Record<string, (message: string) => DeflowError> = {
  DFL01: (message) => new LeaseLostError(message),
  DFL02: (message) => new NotFoundError(message),
  DFL03: (message) => new StepClosedError(message),
  DFL04: (message) => new ValidationError(message),
};

export function toDeflowError(error: unknown, location: string): Error {
  if (error instanceof DeflowError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const known = typeof code === 'string' ? BY_SQLSTATE[code] : undefined;
  if (known !== undefined) return known(message);
  const detail = typeof code === 'string' ? ` ${code}` : '';
  return new BackendError(`PostgreSQL error${detail} on ${location}: ${message}`, { cause: error });
}
