/**
 * The pools a node runs isolated steps in (`isolation: 'thread' | 'process'`): one farm per
 * kind, made on first use, each worker running one task at a time. Retries stay the engine's
 * business (the farm retries nothing); a timeout or an abort replaces the worker, so a handler
 * that never returns is really stopped.
 */
import { createFarm } from '../pool/index.js';
import type { Farm } from '../pool/index.js';
import { StepModuleError } from '../errors.js';
import { checkPayloadSize } from './json.js';
import type { RegisteredHandler } from './handler-registry.js';
import type { IsolatedCall, JobContext } from './handler-contract.js';

export type IsolationKind = 'thread' | 'process';

export class IsolationPools {
  private readonly farms = new Map<IsolationKind, Farm>();

  constructor(
    private readonly entry: string,
    private readonly size: number,
  ) {}

  /** Runs the handler of `context`'s job in a worker; resolves with the result as JSON text. */
  run(kind: IsolationKind, context: JobContext, handler: RegisteredHandler, signal: AbortSignal): Promise<string | null> {
    if (handler.shareableModuleUrl === undefined) {
      const where = handler.moduleUrl === undefined ? 'no module' : `only the script this process was started with (${handler.moduleUrl})`;
      return Promise.reject(
        new StepModuleError(
          `step "${context.step.name}" asks for isolation: '${kind}', but its StepHandler has ${where}, which workers must not import; ` +
            'define it at the top level of a module of its own and import it',
        ),
      );
    }
    const call: IsolatedCall = {
      moduleUrl: handler.shareableModuleUrl,
      handlerKey: handler.key,
      job: context.job,
      step: context.step,
      taskCount: context.taskCount,
    };
    const timeout = context.step.options.taskTimeout;
    const result = this.farm(kind).call({ method: 'runHandler', args: [call], signal, ...(timeout > 0 ? { timeout } : {}) }) as Promise<string | null>;
    return result.then((json) => {
      if (json !== null) checkPayloadSize(json, `the result of task ${context.job.seq} of step "${context.step.name}"`);
      return json;
    });
  }

  async close(): Promise<void> {
    const farms = [...this.farms.values()];
    this.farms.clear();
    await Promise.all(farms.map((farm) => farm.kill()));
  }

  private farm(kind: IsolationKind): Farm {
    let farm = this.farms.get(kind);
    if (farm === undefined) {
      farm = createFarm({ module: this.entry, type: kind, numberOfWorkers: this.size, maxConcurrentCallsPerWorker: 1, maxRetries: 0 });
      this.farms.set(kind, farm);
    }
    return farm;
  }
}
