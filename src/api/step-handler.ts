/**
 * StepHandler: the code of a step (DeFlow-compatible lifecycle). Defining one registers it
 * in this process under its `name`, or under its module URL and position in that module,
 * so every process that imports the same module can run it.
 */
import { ValidationError } from '../errors.js';
import { checkKnownKeys, checkNoNul, checkObject, describe } from '../option-checks.js';
import { toJson } from '../engine/json.js';
import { nextOrdinal, registerHandler } from '../engine/handler-registry.js';
import type { HandlerRef } from '../backends/records.js';
import { callerSite, entryModuleUrl, moduleBaseName, realModuleUrl } from './defining-module.js';
import { checkStepOptions } from './options.js';
import type { StepOptions } from './options.js';
import type { Step } from './step.js';
import type { Task } from './task.js';

type Awaitable<T> = T | PromiseLike<T>;

export interface StepHandlerDefinition<SD = unknown, TD = unknown, TR = unknown> {
  /** Stable name other processes find the handler by. Default: the module's file name. */
  name?: string;
  /** Step option defaults for every step using this handler. */
  options?: Partial<StepOptions>;
  /** Default step data when addStep gives none. */
  data?: SD;
  /** Default tasks when addStep gives none. */
  tasks?: TD[];
  /** Runs once before the tasks (as a leased job): fetch data, `step.addTasks(...)`. */
  beforeAll?(step: Step<SD, TD, TR>): Awaitable<unknown>;
  /** Runs for each task; what it returns becomes `task.result`. */
  handler?(task: Task<TD, TR>, step: Step<SD, TD, TR>): Awaitable<TR>;
  /** Runs after each task finishes for good (succeeded, or failed with no attempt left). */
  afterEach?(task: Task<TD, TR>, step: Step<SD, TD, TR>): Awaitable<unknown>;
  /** Runs once after every task finished, succeeded or failed (as a leased job). */
  afterAll?(step: Step<SD, TD, TR>): Awaitable<unknown>;
  /** Runs after each failed attempt of `handler`. */
  onHandlerError?(task: Task<TD, TR>, step: Step<SD, TD, TR>, error: Error): Awaitable<unknown>;
}

const DEFINITION_KEYS = ['name', 'options', 'data', 'tasks', 'beforeAll', 'handler', 'afterEach', 'afterAll', 'onHandlerError'];
const LIFECYCLE = ['beforeAll', 'handler', 'afterEach', 'afterAll', 'onHandlerError'] as const;

const BRAND = Symbol.for('deflow.StepHandler');

export class StepHandler<SD = unknown, TD = unknown, TR = unknown> {
  /** Recognises handlers made by another copy of deflow in the same process. */
  readonly [BRAND] = true;
  /** Registry key: the explicit name, or `<module url>#<ordinal>`. */
  readonly key: string;
  /** Display name: explicit name, else the module's file name. */
  readonly name: string;
  /** Module the handler was defined in (a file URL), if known. */
  readonly moduleUrl: string | undefined;
  /**
   * The module other processes (and isolation workers) may import to find this handler:
   * `moduleUrl`, except for the script the process was started with, which they must not run.
   */
  readonly shareableModuleUrl: string | undefined;
  /** Where the constructor was called (`<url>:<line>:<column>`), to tell duplicates from re-evaluations. */
  readonly definedAt: string | undefined;
  /** The script this process was started with, when the handler is defined in it (see HandlerRef.entry). */
  readonly entryUrl: string | undefined;
  /** DeFlow compatibility: the module path. */
  readonly path: string | undefined;
  readonly options: Partial<StepOptions> | undefined;
  readonly data: SD | undefined;
  readonly tasks: TD[] | undefined;
  readonly beforeAll?: StepHandlerDefinition<SD, TD, TR>['beforeAll'];
  readonly handler?: StepHandlerDefinition<SD, TD, TR>['handler'];
  readonly afterEach?: StepHandlerDefinition<SD, TD, TR>['afterEach'];
  readonly afterAll?: StepHandlerDefinition<SD, TD, TR>['afterAll'];
  readonly onHandlerError?: StepHandlerDefinition<SD, TD, TR>['onHandlerError'];

  constructor(definition: StepHandlerDefinition<SD, TD, TR>) {
    const where = 'new StepHandler()';
    const raw = checkObject(definition, where);
    checkKnownKeys(raw, DEFINITION_KEYS, where);
    for (const method of LIFECYCLE) {
      if (raw[method] !== undefined && typeof raw[method] !== 'function') {
        throw new ValidationError(`${where}: ${method} must be a function, got ${describe(raw[method])}`);
      }
    }
    if (definition.handler === undefined && definition.beforeAll === undefined && definition.afterAll === undefined) {
      throw new ValidationError(`${where}: define at least one of handler, beforeAll or afterAll`);
    }
    if (definition.name !== undefined && (typeof definition.name !== 'string' || definition.name.length === 0)) {
      throw new ValidationError(`${where}: name must be a non-empty string, got ${describe(definition.name)}`);
    }
    if (definition.name !== undefined) checkNoNul(definition.name, `${where}: name`);
    if (definition.tasks !== undefined && !Array.isArray(definition.tasks)) {
      throw new ValidationError(`${where}: tasks must be an array, got ${describe(definition.tasks)}`);
    }
    // Checked here, where they were given, not when a workflow first uses them.
    // Serializable now; their size is checked where a step is built, against the registered limit.
    definition.tasks?.forEach((task, i) => toJson(task, `${where}: task data at index ${i}`, false, Infinity));
    if (definition.data !== undefined) toJson(definition.data, `${where}: data`, false, Infinity);
    const site = callerSite();
    this.moduleUrl = site?.url;
    this.definedAt = site?.site;
    const inEntryScript = site !== undefined && realModuleUrl(site.url) === entryModuleUrl();
    this.shareableModuleUrl = site === undefined || inEntryScript ? undefined : site.url;
    this.entryUrl = inEntryScript ? (entryModuleUrl() ?? undefined) : undefined;
    this.path = this.moduleUrl;
    this.name = definition.name ?? moduleBaseName(this.moduleUrl) ?? 'step';
    this.key = definition.name ?? `${this.moduleUrl ?? 'anonymous'}#${nextOrdinal(this.moduleUrl ?? 'anonymous')}`;
    this.options = definition.options === undefined ? undefined : checkStepOptions(definition.options, `${where} options`);
    this.data = definition.data;
    this.tasks = definition.tasks;
    // Methods keep the definition object as `this`, as written in the object literal.
    if (definition.beforeAll !== undefined) this.beforeAll = definition.beforeAll.bind(definition);
    if (definition.handler !== undefined) this.handler = definition.handler.bind(definition);
    if (definition.afterEach !== undefined) this.afterEach = definition.afterEach.bind(definition);
    if (definition.afterAll !== undefined) this.afterAll = definition.afterAll.bind(definition);
    if (definition.onHandlerError !== undefined) this.onHandlerError = definition.onHandlerError.bind(definition);
    registerHandler(this);
  }

  /** How nodes will find this handler. */
  toRef(): HandlerRef {
    const ref: HandlerRef = {
      key: this.key,
      hasBeforeAll: this.beforeAll !== undefined,
      hasAfterAll: this.afterAll !== undefined,
    };
    if (this.shareableModuleUrl !== undefined) ref.module = this.shareableModuleUrl;
    if (this.entryUrl !== undefined) ref.entry = this.entryUrl;
    return ref;
  }
}

export function isStepHandler(value: unknown): value is StepHandler {
  return value instanceof StepHandler || (typeof value === 'object' && value !== null && BRAND in value);
}
