/**
 * The `step` of addStep / addAfter: a StepHandler, an `import()` promise of a module that
 * default-exports one, the absolute path (or file URL) of such a module, or the registered name
 * of a handler (a string without a slash or colon): the process that creates the workflow then needs
 * none of its code, and the nodes that registered a handler of that name run it (usually on a
 * queue of their own: the step option `queue`).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { HandlerRef } from '../backends/records.js';
import { StepModuleError, ValidationError } from '../errors.js';
import { checkNoNul, describe } from '../option-checks.js';
import { findHandler } from '../engine/handler-registry.js';
import { ModulePolicy, quoteSpecifier, specifierRefusal } from '../engine/module-policy.js';
import { isStepHandler } from './step-handler.js';
import type { StepHandler } from './step-handler.js';
import type { StepOptions } from './options.js';

export type StepSource<SD = unknown, TD = unknown, TR = unknown> =
  | StepHandler<SD, TD, TR>
  | PromiseLike<{ default: StepHandler<SD, TD, TR> }>
  | string
  | URL;

/** What a step takes from its handler when the call does not say: its name and defaults. */
export interface HandlerDefaults {
  readonly name: string;
  readonly options: Partial<StepOptions> | undefined;
  readonly data: unknown;
  readonly tasks: readonly unknown[] | undefined;
}

export interface ResolvedStepSource {
  handler: HandlerDefaults;
  ref: HandlerRef;
}

/**
 * A handler's registered name rather than a module: no slash of any kind (paths and URLs have
 * one) and no colon (`node:fs` is a module specifier, refused as such).
 */
function isHandlerName(source: string): boolean {
  return source.length > 0 && !/[\\/:]/.test(source);
}

/**
 * A step named by its handler's name: this process's handler when it has one, else a reference
 * any node that registered the name resolves (its hooks unknown, so counted as present: a node
 * without them runs them as no-ops).
 */
function namedHandler(name: string): ResolvedStepSource {
  const found = findHandler(name);
  if (isStepHandler(found)) return { handler: found, ref: found.toRef() };
  return {
    handler: { name, options: undefined, data: undefined, tasks: undefined },
    ref: { key: name, hasBeforeAll: true, hasAfterAll: true },
  };
}

/**
 * Checks what can be checked without loading anything; throws at the call that got it.
 * `stepDirs`: the step directories of this process's registration (none given: its working
 * directory); a module file outside them is refused, since every node with the same directories
 * would refuse it later. Undefined before register(): run() checks it then.
 */
export function checkStepSource(given: unknown, where: string, stepDirs?: readonly string[]): void {
  const source = given instanceof URL ? given.href : given;
  if (isStepHandler(source) || isPromiseLike(source)) return;
  if (typeof source === 'string' && isHandlerName(source)) {
    checkNoNul(source, `${where}: step`);
    return;
  }
  if (typeof source === 'string') {
    const refusal = specifierRefusal(source);
    if (refusal !== undefined) {
      throw new ValidationError(
        `${where}: step module ${quoteSpecifier(source)} ${refusal}; ` +
          'give the absolute path of a module file, e.g. path.resolve(...) or new URL("./step.js", import.meta.url)',
      );
    }
    const path = modulePath(source);
    if (stepDirs !== undefined) {
      const verdict = new ModulePolicy(stepDirs).check(source);
      if (!verdict.allowed) {
        throw new ValidationError(`${where}: no node would import this step module, this process included: ${verdict.reason}`);
      }
    }
    if (!existsSync(path)) throw new StepModuleError(`${where}: step module ${source} does not exist`);
    return;
  }
  throw new ValidationError(
    `${where}: step must be a StepHandler, an import() of a module that default-exports one, ` +
      `the absolute path of such a module, or a handler's registered name; got ${describe(source)}`,
  );
}

export async function resolveStepSource(given: unknown, where: string, stepDirs?: readonly string[]): Promise<ResolvedStepSource> {
  const source = given instanceof URL ? given.href : given;
  checkStepSource(source, where, stepDirs);
  if (isStepHandler(source)) return { handler: source, ref: source.toRef() };
  if (typeof source === 'string' && isHandlerName(source)) return namedHandler(source);
  let module: unknown;
  const label = typeof source === 'string' ? `step module ${source}` : 'the imported step module';
  try {
    module = typeof source === 'string' ? await import(pathToFileURL(modulePath(source)).href) : await (source);
  } catch (cause) {
    throw new StepModuleError(`${where}: cannot load ${label}: ${(cause as Error).message}`, { cause });
  }
  const handler = (module as { default?: unknown } | null)?.default;
  if (!isStepHandler(handler)) {
    throw new StepModuleError(
      `${where}: ${label} does not default-export a StepHandler; write "export default new StepHandler({ ... })" in it`,
    );
  }
  return { handler, ref: handler.toRef() };
}

/** The file of a specifier specifierRefusal accepted. */
function modulePath(source: string): string {
  return source.toLowerCase().startsWith('file:') ? fileURLToPath(source) : source;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
