/** A Fastify app serving deflow alone (the `deflow serve` command uses it), and the rule on where it may listen. */
import Fastify from 'fastify';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { ValidationError } from '../errors.js';
import { isLoopback } from './auth.js';
import { checkServerOptions } from './option-check.js';
import { DEFAULT_BODY_LIMIT, deflowServer } from './plugin.js';
import type { DeflowServerOptions } from './plugin.js';
import { TriggerRegistry } from './triggers/types.js';
import type { TriggerParser } from './triggers/types.js';

export interface CreateServerOptions extends DeflowServerOptions {
  /** Fastify's logger option (default false). */
  logger?: FastifyServerOptions['logger'];
}

/** The app createServer makes: a Fastify instance that also takes triggers. */
export type DeflowApp = FastifyInstance & {
  /** Registers (or replaces) the parsers of `POST /triggers/<name>`; may be called after listen(). */
  trigger(name: string, parsers: readonly TriggerParser[]): DeflowApp;
  /** The names registered, sorted. */
  triggerNames(): string[];
};

/** Builds the app with the deflow plugin registered at `/`; call `listen()` on it (see listenServer). */
export async function createServer(options: CreateServerOptions = {}): Promise<DeflowApp> {
  const { logger, ...plugin } = options;
  checkServerOptions(plugin); // before Fastify takes bodyLimit
  const triggers = plugin.triggers instanceof TriggerRegistry ? plugin.triggers : new TriggerRegistry(plugin.triggers ?? {});
  const app = Fastify({ logger: logger ?? false, bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT, forceCloseConnections: true });
  await app.register(deflowServer, { ...plugin, triggers });
  await app.ready();
  const deflowApp: DeflowApp = Object.assign(app, {
    trigger(name: string, parsers: readonly TriggerParser[]): DeflowApp {
      triggers.set(name, parsers);
      return deflowApp;
    },
    triggerNames: () => triggers.names(),
  });
  return deflowApp;
}

/** Refuses an address other machines can reach when there is no token. */
export function checkListenAddress(host: string, tokens: readonly string[]): void {
  if (tokens.length === 0 && !isLoopback(host)) {
    throw new ValidationError(
      `refusing to listen on ${host} without a token: anyone who can reach it could read your workflows. ` +
        'Set DEFLOW_TOKEN (or --token), or listen on 127.0.0.1',
    );
  }
}

/** Checks the address, then listens; resolves with the URL it listens on. */
export async function listenServer(app: FastifyInstance, { host, port, tokens }: { host: string; port: number; tokens: readonly string[] }): Promise<string> {
  checkListenAddress(host, tokens);
  return app.listen({ host, port });
}
