/**
 * What `run` and `worker` share about joining a backend: the --startup-timeout option, and the
 * 'error' listener that tells each failed attempt (and later background problems) as one tidy
 * line on stderr instead of Node's raw process warnings.
 */
import type { Command } from 'commander';
import type { DeFlow } from '../index.js';
import { ValidationError } from '../index.js';
import { inFlagTerms } from './flag-names.js';
import { printableLines } from './format.js';

export function withStartupTimeout(command: Command): Command {
  return command.option(
    '--startup-timeout <ms>',
    'how long to keep trying to reach a backend that is down at start, in milliseconds (0: fail at once)',
    '60000',
  );
}

/** `deflow <command>: <during>: <message>` on stderr, e.g. "deflow run: connect: cannot reach … Trying again in 0.9 s". */
export function reportProblems(deflow: DeFlow, command: string): void {
  deflow.on('error', (error, during) => process.stderr.write(`deflow ${command}: ${during}: ${printableLines(inFlagTerms(error.message))}\n`));
}

/** A whole number of milliseconds of at least `min`, or an error naming the flag. */
export function cliMilliseconds(text: string, flag: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new ValidationError(`${flag} must be a whole number of milliseconds >= ${min}, got ${JSON.stringify(text)}`);
  return value;
}
