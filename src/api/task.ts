/**
 * Task: one unit of work of a step. During a run it is handed to `handler`, `afterEach`
 * and `onHandlerError`; in results it carries what happened to it.
 */
import type { ClaimedJob } from '../backends/backend.js';
import type { JobStatus, TaskRecord } from '../backends/records.js';
import { CorruptRecordError } from '../errors.js';
import type { SerializedError } from '../errors.js';
import { ABORT_TASK } from '../engine/handler-contract.js';
import type { TaskView } from '../engine/handler-contract.js';

/** A task's error as stored: class name, message, stack, `code` when known, and `hook` when a side hook threw. */
export type TaskError = SerializedError;

const UNPARSED = Symbol('unparsed');

export class Task<TD = unknown, TR = unknown> implements TaskView {
  /** `<stepId>:<seq>`, unique within the workflow. */
  readonly id: string;
  /** Position of the task in its step, from 1. */
  readonly seq: number;
  /** `<workflowId>:<stepId>` (DeFlow `stepKey`). */
  readonly stepKey: string;
  /** The last error of the task, or of a side hook when `error.hook` is set. */
  error: TaskError | undefined;
  /** Failed attempts so far (handler failures and timeouts; node losses are counted in `lostCount`). */
  failedCount: number;
  /**
   * Times the task was lost with its node (process killed, frozen past its lease): in a handler,
   * before this run. Limited by the step option maxNodeLosses.
   */
  lostCount: number;
  /** ready | leased | succeeded | failed. */
  status: JobStatus;
  #dataJson: string;
  #data: TD | typeof UNPARSED = UNPARSED;
  #resultJson: string | null = null;
  #result: TR | undefined | typeof UNPARSED = undefined;
  #controller: AbortController | null = null;
  #abortReason: Error | null = null;

  /** @internal */
  constructor(fields: { id: string; seq: number; stepKey: string; dataJson: string; status: JobStatus; failedCount: number; lostCount?: number }) {
    this.id = fields.id;
    this.seq = fields.seq;
    this.stepKey = fields.stepKey;
    this.#dataJson = fields.dataJson;
    this.status = fields.status;
    this.failedCount = fields.failedCount;
    this.lostCount = fields.lostCount ?? 0;
    this.error = undefined;
  }

  /** What the handler returned (undefined until it succeeded, or when it returned nothing). */
  get result(): TR | undefined {
    if (this.#result === UNPARSED) this.#result = this.#resultJson === null ? undefined : (this.#parse(this.#resultJson, 'result') as TR);
    return this.#result;
  }

  set result(value: TR | undefined) {
    this.#result = value;
  }

  /** The task's data, as given to addTasks (parsed on first read). */
  get data(): TD {
    if (this.#data === UNPARSED) this.#data = this.#parse(this.#dataJson, 'data') as TD;
    return this.#data;
  }

  /** Stored JSON text: a corrupt one (the store was written by something else) is a clear error. */
  #parse(json: string, field: 'data' | 'result'): unknown {
    try {
      return JSON.parse(json) as unknown;
    } catch {
      const stepId = this.id.slice(0, this.id.lastIndexOf(':')); // id is <stepId>:<seq>, stepKey <workflowId>:<stepId>
      const workflowId = this.stepKey.slice(0, this.stepKey.length - stepId.length - 1);
      throw new CorruptRecordError(
        `the stored ${field} of task ${this.seq} of step ${stepId} of workflow ${workflowId} is not JSON (${json.length} characters); ` +
          'the store was written by something other than deflow (or damaged)',
        { workflowId, stepId, seq: this.seq, field: `task ${field}` },
      );
    }
  }

  /** Aborts when the task times out or its node shuts down before it finished. */
  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#abortReason !== null) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /** @internal fires `signal`. */
  [ABORT_TASK](reason: Error): void {
    this.#abortReason ??= reason;
    this.#controller?.abort(reason);
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      seq: this.seq,
      stepKey: this.stepKey,
      data: this.data,
      status: this.status,
      result: this.result,
      error: this.error,
      failedCount: this.failedCount,
      lostCount: this.lostCount,
    };
  }

  /** @internal */
  static fromJob<TD, TR>(job: ClaimedJob): Task<TD, TR> {
    return new Task<TD, TR>({
      id: `${job.stepId}:${job.seq}`,
      seq: job.seq,
      stepKey: `${job.workflowId}:${job.stepId}`,
      dataJson: job.dataJson,
      status: 'leased',
      failedCount: job.failedCount,
      lostCount: job.lostCount,
    });
  }

  /** @internal */
  static fromRecord<TD, TR>(record: TaskRecord): Task<TD, TR> {
    const task = new Task<TD, TR>({
      id: record.id,
      seq: record.seq,
      stepKey: `${record.workflowId}:${record.stepId}`,
      dataJson: record.dataJson,
      status: record.status,
      failedCount: record.failedCount,
      lostCount: record.lostCount,
    });
    task.#resultJson = record.resultJson;
    task.#result = UNPARSED;
    task.error = record.error ?? undefined;
    return task;
  }
}
