/**
 * Importing the modules `deflow worker --steps` and `--workflows` (and `deflow start
 * --workflows`) found, with what each import may go wrong with said: a module still importing
 * after a while is named (one waiting at top level would hang the command unseen), one whose
 * top-level await can never settle is reported, a failure names the file.
 */
import { StepModuleError } from '../index.js';
import type { ScannedModule } from '../api/step-module-scan.js';

/** Past this, a module still importing is named. */
const SLOW_IMPORT_MS = 5_000;

/** The module's exports (for CommonJS, TypeScript compiled to it too, its exports object). `what`: "step module", "workflow module". */
export async function importScanned({ path: file, url }: ScannedModule, what: string, command: string, flag: string): Promise<Record<string, unknown>> {
  let namespace: Record<string, unknown>;
  const slow = setTimeout(() => {
    process.stderr.write(`deflow ${command}: still importing ${file} after ${SLOW_IMPORT_MS / 1000} s (a module that waits at top level? point ${flag} at ${what}s only)\n`);
  }, SLOW_IMPORT_MS);
  // A top-level await on something nothing can settle any more: Node would exit silently.
  const stuck = (): void => {
    process.stderr.write(`deflow ${command}: ${file} never finished loading: its top-level await waits on something that can never settle\n`);
    process.exitCode = 1;
  };
  process.once('beforeExit', stuck);
  try {
    namespace = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new StepModuleError(`${what} ${file} failed to load: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(slow);
    process.off('beforeExit', stuck);
  }
  const commonJs = namespace.default as { __esModule?: unknown } | null | undefined;
  if (typeof commonJs === 'object' && commonJs !== null && commonJs.__esModule === true) return commonJs;
  return namespace;
}

/** A value as a message about a module's export shows it. */
export function exported(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `a function${value.name === '' ? '' : ` (${value.name})`}`;
  if (typeof value === 'object') {
    const kind = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof kind === 'string' && kind !== '' && kind !== 'Object' ? `a ${kind}` : 'a plain object';
  }
  const shown = typeof value === 'symbol' ? value.toString() : JSON.stringify(value);
  return `${typeof value} ${shown}`.slice(0, 80);
}
