/** The `--backend` option shared by every command. */
import type { Command } from 'commander';

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

export function registerOptions(options: BackendOptions): Record<string, string> {
  const out: Record<string, string> = {};
  if (options.backend !== undefined) out.backend = options.backend;
  if (options.prefix !== undefined) out.prefix = options.prefix;
  if (options.schema !== undefined) out.schema = options.schema;
  return out;
}
