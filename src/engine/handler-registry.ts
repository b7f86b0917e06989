/**
 * The process-wide registry of step handlers. A StepHandler registers itself when it is
 * constructed, under its explicit name or under `<module url>#<ordinal>`, so any process that
 * imports the same module finds the same handler under the same key.
 */
import { ValidationError } from '../errors.js';
import type { HandlerRef } from '../backends/records.js';
import type { StepModuleError } from '../errors.js';
import type { HandlerCode } from './handler-contract.js';

export interface RegisteredHandler extends HandlerCode {
  readonly name: string;
  readonly moduleUrl: string | undefined;
  /** The module workers may import to load it; undefined for handlers of the entry script. */
  readonly shareableModuleUrl: string | undefined;
  /** `<url>:<line>:<column>` of its definition. */
  readonly definedAt: string | undefined;
  /** The process's start script, when the handler is defined in it. */
  readonly entryUrl: string | undefined;
  /** Set when this node refused to import the step's module: every job fails with it, at once. */
  readonly refusal?: StepModuleError;
}

interface RegistryState {
  handlers: Map<string, RegisteredHandler>;
  ordinals: Map<string, number>;
}

// Shared through globalThis so that two copies of deflow in one process (a global CLI and
// a project's own install) see the same handlers.
const REGISTRY = Symbol.for('deflow.handlerRegistry');
const globalStore = globalThis as typeof globalThis & { [REGISTRY]?: RegistryState };
const state: RegistryState = (globalStore[REGISTRY] ??= { handlers: new Map(), ordinals: new Map() });
const handlers = state.handlers;
const ordinals = state.ordinals;

export function registerHandler(handler: RegisteredHandler): void {
  const existing = handlers.get(handler.key);
  // The same definition evaluated again (a module loaded twice) replaces the old handler;
  // two definitions sharing a name would run each other's code.
  if (existing !== undefined && existing !== handler && existing.definedAt !== handler.definedAt) {
    throw new ValidationError(
      `two StepHandlers are named "${handler.key}" (defined at ${existing.definedAt ?? 'an unknown place'} and ` +
        `${handler.definedAt ?? 'an unknown place'}); give each a distinct name`,
    );
  }
  handlers.set(handler.key, handler);
}

export function findHandler(key: string): RegisteredHandler | undefined {
  return handlers.get(key);
}

/**
 * The handler of this process that may run a step referring to `ref`: same key, and defined in
 * the same program's script when either side is defined in one (two programs sharing a store
 * may each name a handler "report" in their own script; neither must run the other's).
 */
export function handlerFor(ref: HandlerRef): RegisteredHandler | undefined {
  const found = handlers.get(ref.key);
  if (found === undefined || found.entryUrl !== ref.entry) return undefined;
  return found;
}

export function registeredKeys(): string[] {
  return [...handlers.keys()];
}

/** Next construction ordinal of a handler defined without a name in `moduleUrl`. */
export function nextOrdinal(moduleUrl: string): number {
  const next = ordinals.get(moduleUrl) ?? 0;
  ordinals.set(moduleUrl, next + 1);
  return next;
}
