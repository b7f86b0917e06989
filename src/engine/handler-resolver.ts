/**
 * Finds the code of a step on this node: in the registry by key, or by importing the
 * module the step was defined in (which registers its handlers), when the node's module policy
 * allows it. A handler that cannot be loaded is remembered, and the node never claims work for
 * it; a module the policy refuses gives a handler that fails every job of the step.
 */
import createDebug from 'debug';
import type { HandlerRef } from '../backends/records.js';
import { StepModuleError } from '../errors.js';
import { findHandler, handlerFor } from './handler-registry.js';
import type { RegisteredHandler } from './handler-registry.js';
import { ModulePolicy, quoteSpecifier } from './module-policy.js';

const debug = createDebug('deflow:engine:resolver');

export type ModuleImporter = (specifier: string) => Promise<unknown>;

export class HandlerResolver {
  private readonly unloadable = new Map<string, string>();
  private readonly failedImports = new Set<string>();
  private readonly missingInModule = new Set<string>();
  private readonly loading = new Map<string, Promise<RegisteredHandler | null>>();
  /** Refusing handlers, by key and module: the same key may come with another module. */
  private readonly refused = new Map<string, RegisteredHandler>();

  constructor(
    private readonly policy: ModulePolicy = new ModulePolicy(),
    private readonly importModule: ModuleImporter = (specifier) => import(specifier),
  ) {}

  /** The handler, or null when this node cannot run it (see `whyUnloadable`). */
  resolve(ref: HandlerRef): RegisteredHandler | null | Promise<RegisteredHandler | null> {
    // Checked first: a module whose import threw may have registered the handler before it did.
    if (this.failedImports.has(ref.key)) return null;
    const found = handlerFor(ref);
    if (found !== undefined) return found;
    // Another program's script handler (or ours, asked for by another program): not for this process.
    if (ref.entry !== undefined || findHandler(ref.key) !== undefined) return null;
    if (this.unloadable.has(ref.key)) return null;
    const module = ref.module;
    if (module === undefined) {
      this.markUnloadable(ref.key, 'it is not registered in this process and no module path is known');
      return null;
    }
    const verdict = this.policy.check(module);
    if (!verdict.allowed) return this.refusal(ref.key, module, verdict.reason);
    let pending = this.loading.get(ref.key);
    if (pending === undefined) {
      pending = this.load(ref.key, verdict.url);
      this.loading.set(ref.key, pending);
    }
    return pending;
  }

  /** Whether the handler's module exists but could not be loaded (a bug to report, not a routing choice). */
  isBroken(key: string): boolean {
    return this.failedImports.has(key) || this.missingInModule.has(key);
  }

  whyUnloadable(key: string): string | undefined {
    return this.unloadable.get(key);
  }

  /** A handler whose every job fails with why the module was not imported (never imported, never retried). */
  private refusal(key: string, module: string, reason: string): RegisteredHandler {
    const id = `${key}\0${module}`;
    let handler = this.refused.get(id);
    if (handler === undefined) {
      const error = new StepModuleError(`this node refuses to import the step module of StepHandler ${quoteSpecifier(key)}: ${reason}`);
      Object.assign(error, { module: quoteSpecifier(module), stepDirs: [...this.policy.dirs] });
      handler = { key, name: key, moduleUrl: undefined, shareableModuleUrl: undefined, definedAt: undefined, entryUrl: undefined, refusal: error };
      this.refused.set(id, handler);
      debug('refused handler %s: %s', key, reason);
    }
    return handler;
  }

  private async load(key: string, module: string): Promise<RegisteredHandler | null> {
    try {
      await this.importModule(module);
    } catch (error) {
      this.failedImports.add(key);
      this.markUnloadable(key, `importing ${module} failed: ${(error as Error).message}`);
      return null;
    } finally {
      this.loading.delete(key);
    }
    const found = findHandler(key);
    if (found === undefined) {
      this.missingInModule.add(key);
      this.markUnloadable(key, `${module} was imported but defines no StepHandler with key "${key}"`);
    }
    return found ?? null;
  }

  private markUnloadable(key: string, reason: string): void {
    this.unloadable.set(key, reason);
    debug('will not run handler %s: %s', key, reason);
  }
}
