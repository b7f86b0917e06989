/**
 * defineWorkflow(name, build): a workflow any process that loaded the definition can start by
 * name (`DeFlow.start(name, input, { id, key })`, `deflow start <name>`). `build` turns the input
 * into a WorkFlow draft (addStep..., without run()); the start stores and runs it.
 */
import { ValidationError, WorkflowDefinitionError } from '../errors.js';
import { checkKnownKeys, checkNoNul, checkObject, describe } from '../option-checks.js';
import { callerSite } from './defining-module.js';
import { DEFINITION, registerDefinition } from './definition-registry.js';
import type { RegisteredDefinition, StartOptions } from './definition-registry.js';
import { WorkFlow } from './workflow.js';
import { checkWorkflowId, checkWorkflowKey } from './workflow-identity.js';

export interface DefineWorkflowOptions {
  /** One line saying what it does (listed by DeFlow.definitions()). */
  description?: string;
}

export class WorkflowDefinition<I = unknown> implements RegisteredDefinition {
  readonly [DEFINITION] = true;
  readonly name: string;
  readonly description: string | undefined;
  readonly definedAt: string | undefined;
  readonly #build: (input: I) => WorkFlow | Promise<WorkFlow>;

  /** @internal use defineWorkflow() */
  constructor(name: string, build: (input: I) => WorkFlow | Promise<WorkFlow>, description: string | undefined, definedAt: string | undefined) {
    this.name = name;
    this.#build = build;
    this.description = description;
    this.definedAt = definedAt;
  }

  /**
   * Builds the workflow from `input` and starts it; resolves with its handle once it is stored
   * (`handle.created` false: a workflow with this id existed, the handle follows it).
   */
  async start(input: I, options: StartOptions = {}): Promise<WorkFlow> {
    const where = `start of workflow ${JSON.stringify(this.name)}`;
    const identity = checkStartOptions(options, `${where}: options`);
    const draft = await this.#build(input);
    if (!(draft instanceof WorkFlow)) {
      throw new WorkflowDefinitionError(`${where}: its build function returned ${describe(draft)}, not a WorkFlow; return WorkFlow.create(${JSON.stringify(this.name)}).addStep(...)`);
    }
    if (draft.name !== this.name) {
      throw new WorkflowDefinitionError(
        `${where}: its build function created a workflow named ${JSON.stringify(draft.name)}; a definition's workflow carries its name: ` +
          `WorkFlow.create(${JSON.stringify(this.name)})`,
      );
    }
    return WorkFlow.startDraft(draft, identity);
  }
}

/** Checks DeFlow.start's options: `id` and `key` by the rules of WorkFlow.create's. */
export function checkStartOptions(value: unknown, where: string): StartOptions {
  const options = checkObject(value, where);
  checkKnownKeys(options, ['id', 'key'], where);
  return {
    ...(options.id === undefined ? {} : { id: checkWorkflowId(options.id, `${where}.id`) }),
    ...(options.key === undefined ? {} : { key: checkWorkflowKey(options.key, `${where}.key`) }),
  };
}

/**
 * Defines a workflow under `name` in this process (usually a module's default export:
 * `deflow worker --workflows <dir>` and `deflow start --workflows <dir>` load such modules).
 * Two definitions of one name throw.
 */
export function defineWorkflow<I = unknown>(name: string, build: (input: I) => WorkFlow | Promise<WorkFlow>, options: DefineWorkflowOptions = {}): WorkflowDefinition<I> {
  if (typeof name !== 'string' || name.trim().length === 0) throw new ValidationError(`defineWorkflow() needs a non-empty name, got ${describe(name)}`);
  checkNoNul(name, 'defineWorkflow() name');
  if (typeof build !== 'function') {
    throw new ValidationError(`defineWorkflow(${JSON.stringify(name)}): the second argument must be a function (input) => WorkFlow, got ${describe(build)}`);
  }
  const given = checkObject(options, 'defineWorkflow() options');
  checkKnownKeys(given, ['description'], 'defineWorkflow() options');
  if (given.description !== undefined && typeof given.description !== 'string') {
    throw new ValidationError(`defineWorkflow() options.description must be a string, got ${describe(given.description)}`);
  }
  const definition = new WorkflowDefinition<I>(name, build, options.description, callerSite()?.site);
  registerDefinition(definition);
  return definition;
}
