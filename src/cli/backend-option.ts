/** The `--backend` option shared by every command. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { backendInput, checkRegisterOptions } from '../api/options.js';
import { chooseBackend, ignoredOptions } from '../backends/registry.js';
import { ValidationError } from '../errors.js';
import { inFlagTerms } from './flag-names.js';

export interface BackendOptions {
  backend?: string;
  prefix?: string;
  schema?: string;
}

export function withBackendOptions(command: Command): Command {
  return command
    .option('-b, --backend <url>', 'sqlite:<file> | redis://… | postgres://… (default: $DEFLOW_BACKEND or sqlite:./.deflow/deflow.db)')
    .option('--prefix <prefix>', 'Redis key prefix')
    .option('--schema <schema>', 'PostgreSQL schema');
}

const said = new Set<string>();

/** Commands that read the options twice (ls, show) still say each line once. */
function sayOnce(line: string): void {
  if (said.has(line)) return;
  said.add(line);
  process.stderr.write(`${line}\n`);
}

/**
 * The register options the flags give. A --prefix or --schema the chosen backend ignores is said
 * here as a CLI line (naming the flag) and left out, so DeFlow.register() has no raw process
 * warning to print about it.
 */
export function registerOptions(options: BackendOptions): Record<string, string> {
  const out: Record<string, string> = {};
  if (options.backend !== undefined) out.backend = options.backend;
  if (options.prefix !== undefined) out.prefix = options.prefix;
  if (options.schema !== undefined) out.schema = options.schema;
  for (const option of ['prefix', 'schema'] as const) {
    if (out[option] === undefined) continue;
    const alone = { ...out, prefix: undefined, schema: undefined, [option]: out[option] };
    const input = backendInput(checkRegisterOptions(alone));
    const warnings = ignoredOptions(input, chooseBackend(input));
    if (warnings.length === 0) continue;
    for (const warning of warnings) sayOnce(`deflow: ${inFlagTerms(warning)}`);
    delete out[option];
  }
  return out;
}

/**
 * For commands that only read (ls, show): a SQLite file that does not exist is a typo or the
 * wrong directory, not an empty store; say so instead of creating it.
 */
export function requireExistingStore(options: BackendOptions): void {
  const backend = chooseBackend(backendInput(checkRegisterOptions(registerOptions(options))));
  if (backend.kind !== 'sqlite') return;
  const { path } = backend.config;
  if (path !== ':memory:' && !existsSync(path)) {
    throw new ValidationError(
      `no deflow database at ${path}: run a workflow here first (npx deflow demo), or point --backend (or $DEFLOW_BACKEND) at the right file`,
    );
  }
}
