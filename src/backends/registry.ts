/**
 * The backends deflow knows, chosen by the scheme of the register URL: `sqlite:`,
 * `redis:` / `rediss:` (`redis:` alone for DeFlow's `connection` object), `postgres:` /
 * `postgresql:`. Each backend describes itself (descriptor.ts); this module imports only those
 * descriptors, which import only their configuration, so choosing and checking a backend loads
 * no driver.
 */
import { ValidationError } from '../errors.js';
import type { Backend } from './backend.js';
import type { BackendDescriptor, BackendInput, CreateOptions, IsolationOption } from './descriptor.js';
import { postgresBackend } from './postgres/index.js';
import { redactUrl } from './redact-url.js';
import { redisBackend } from './redis/index.js';
import { sqliteBackend } from './sqlite/index.js';

export type { BackendInput, CreateOptions } from './descriptor.js';
// Part of the public register options (RegisterOptions.connection).
export type { RedisConnectionOptions } from './redis/index.js';

const DESCRIPTORS = [sqliteBackend, redisBackend, postgresBackend] as const;

type KnownDescriptor = (typeof DESCRIPTORS)[number];

export type BackendKind = KnownDescriptor['kind'];

/** The backend a register URL chose, its configuration checked, not yet created. */
export type ChosenBackend = KnownDescriptor extends infer D
  ? D extends BackendDescriptor<infer Kind, infer Config>
    ? {
        readonly kind: Kind;
        readonly label: string;
        readonly config: Config;
        /** Builds the backend, loading its implementation (and driver) on first use. */
        create(options?: CreateOptions): Promise<Backend>;
      }
    : never
  : never;

/**
 * Checks the backend part of the register options and picks the backend, synchronously: a URL
 * no backend takes, or one its backend cannot use, throws a ValidationError here. A `prefix` or
 * `schema` is checked by the backend that reads it, whichever backend is chosen.
 */
export function chooseBackend(input: BackendInput): ChosenBackend {
  for (const descriptor of DESCRIPTORS) {
    for (const [option, check] of Object.entries(descriptor.isolationOptions)) {
      const value = input[option as IsolationOption];
      if (value !== undefined) check(value);
    }
  }
  return choose(descriptorFor(input.url), input);
}

/** Isolation options the chosen backend ignores (given for another backend): what to warn about. */
export function ignoredOptions(input: BackendInput, chosen: ChosenBackend): string[] {
  const warnings: string[] = [];
  for (const descriptor of DESCRIPTORS) {
    if (descriptor.kind === chosen.kind) continue;
    for (const option of Object.keys(descriptor.isolationOptions) as IsolationOption[]) {
      if (input[option] === undefined) continue;
      warnings.push(`DeFlow.register options.${option} only applies to ${descriptor.label}; the ${chosen.kind} backend ignores it`);
    }
  }
  return warnings;
}

function descriptorFor(url: string): KnownDescriptor {
  const descriptor = DESCRIPTORS.find((candidate) => candidate.schemes.some((scheme) => url.startsWith(scheme)));
  if (descriptor !== undefined) return descriptor;
  const examples = DESCRIPTORS.map((candidate) => JSON.stringify(candidate.example));
  throw new ValidationError(
    `DeFlow.register options.backend: unsupported backend ${JSON.stringify(redactUrl(url))}; ` +
      `use ${examples.slice(0, -1).join(', ')} or ${examples.at(-1)}`,
  );
}

function choose(descriptor: BackendDescriptor<BackendKind, unknown>, input: BackendInput): ChosenBackend {
  const config = descriptor.parseConfig(input);
  const chosen = { kind: descriptor.kind, label: descriptor.label, config, create: (options?: CreateOptions) => descriptor.create(config, options) };
  // Each descriptor's configuration goes with its own kind, which TypeScript cannot follow through the union.
  return chosen as unknown as ChosenBackend;
}
