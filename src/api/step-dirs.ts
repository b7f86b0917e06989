/**
 * `DeFlow.register({ stepDirs })`: the directories this node may import step modules from
 * (the rule itself is in src/engine/module-policy.ts). Checked at register(), where a typo
 * in a path is cheapest to hear about.
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ValidationError } from '../errors.js';
import { describe, nonEmptyString } from '../option-checks.js';

/** Absolute paths of existing directories; an empty list when none were given (the working directory then). */
export function checkStepDirs(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ValidationError(`${where} must be an array of directory paths, got ${describe(value)}`);
  return value.map((entry: unknown, i) => {
    const dir = resolve(nonEmptyString(entry, `${where}[${i}]`));
    let isDirectory = false;
    try {
      isDirectory = statSync(dir).isDirectory();
    } catch {
      // reported below
    }
    if (!isDirectory) throw new ValidationError(`${where}[${i}]: ${JSON.stringify(dir)} is not an existing directory; give the directory your step modules are in`);
    return dir;
  });
}

let warnedRoot = false;

/**
 * No stepDirs means the working directory; when that is the root (a service started from `/`),
 * every file on the machine may be imported as a step module. Said once per process, and only by
 * a worker: a node that runs no steps imports none.
 */
export function warnIfEveryFileAllowed(stepDirs: readonly string[], worker: boolean): void {
  const cwd = process.cwd();
  if (!worker || stepDirs.length > 0 || dirname(cwd) !== cwd || warnedRoot) return;
  warnedRoot = true;
  process.emitWarning(
    `DeFlow.register() has no stepDirs and the working directory is ${cwd}: this node may import any file on the machine ` +
      'that a stored step names; pass DeFlow.register({ stepDirs: [...] }) the directories of your step modules',
    { type: 'DeflowWarning', code: 'DEFLOW_STEP_DIRS_ROOT' },
  );
}
