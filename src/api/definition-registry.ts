/**
 * The process-wide registry of workflow definitions (defineWorkflow): what DeFlow.start finds
 * by name. Shared through globalThis, like the handler registry, so that two copies of deflow in
 * one process (a global CLI and a project's own install) see the same definitions.
 */
import { ValidationError } from '../errors.js';
import type { WorkFlow } from './workflow.js';

/** What `DeFlow.start` and `deflow start` take besides the input. */
export interface StartOptions {
  /** The workflow's id: a start with the id of an existing workflow creates nothing and follows it. */
  id?: string;
  /** Its business key (an order id...). */
  key?: string;
}

/** A definition as the registry keeps it. */
export interface RegisteredDefinition {
  readonly name: string;
  readonly description: string | undefined;
  /** `<url>:<line>:<column>` of the defineWorkflow call: the same call evaluated again replaces it. */
  readonly definedAt: string | undefined;
  start(input: unknown, options?: StartOptions): Promise<WorkFlow>;
}

/** What `DeFlow.definitions()` lists. */
export interface DefinitionInfo {
  name: string;
  description?: string;
}

const REGISTRY = Symbol.for('deflow.workflowDefinitions');
const globalStore = globalThis as typeof globalThis & { [REGISTRY]?: Map<string, RegisteredDefinition> };
const definitions: Map<string, RegisteredDefinition> = (globalStore[REGISTRY] ??= new Map<string, RegisteredDefinition>());

export function registerDefinition(definition: RegisteredDefinition): void {
  const existing = definitions.get(definition.name);
  // A module evaluated again replaces its definition; two definitions of a name would start each other's workflows.
  if (existing !== undefined && existing !== definition && (existing.definedAt === undefined || existing.definedAt !== definition.definedAt)) {
    throw new ValidationError(
      `defineWorkflow(): a workflow named ${JSON.stringify(definition.name)} is already defined (at ${existing.definedAt ?? 'an unknown place'}; ` +
        `again at ${definition.definedAt ?? 'an unknown place'}); give each definition a distinct name`,
    );
  }
  definitions.set(definition.name, definition);
}

/** The definition of this name loaded in this process, if any. */
export function findDefinition(name: string): RegisteredDefinition | undefined {
  return definitions.get(name);
}

/** The definition of this name; a ValidationError listing the known ones when there is none. */
export function requireDefinition(name: string, where: string): RegisteredDefinition {
  const found = definitions.get(name);
  if (found !== undefined) return found;
  const known = [...definitions.keys()].sort();
  throw new ValidationError(
    `${where}: no workflow definition named ${JSON.stringify(name)} is loaded in this process; ` +
      (known.length === 0
        ? 'none is: import the modules that call defineWorkflow() (deflow: --workflows <dir>)'
        : `known definitions: ${known.map((known) => JSON.stringify(known)).join(', ')}`),
  );
}

export function listDefinitions(): DefinitionInfo[] {
  return [...definitions.values()]
    .map((definition) => (definition.description === undefined ? { name: definition.name } : { name: definition.name, description: definition.description }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Duck-typed (the module may use another copy of deflow): is `value` what defineWorkflow returns? */
export function isWorkflowDefinition(value: unknown): value is RegisteredDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { [DEFINITION]?: unknown })[DEFINITION] === true &&
    typeof (value as RegisteredDefinition).start === 'function'
  );
}

/** Marks definitions (a registered symbol: the same in every copy of deflow). */
export const DEFINITION = Symbol.for('deflow.workflowDefinition');
