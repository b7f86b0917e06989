/** Payload types flow from StepHandler<StepData, TaskData, TaskResult> to every place they appear. */
import { describe, expectTypeOf, test } from 'vitest';
import type DeFlow from '../src/index.js';
import { StepHandler, WorkFlow, defineWorkflow } from '../src/index.js';
import type { Step, Task, WorkflowResult } from '../src/index.js';

interface Invoice {
  email: string;
  amount: number;
}

const send = new StepHandler<{ day: string }, Invoice, { sent: boolean }>({
  async beforeAll(step) {
    expectTypeOf(step.data).toEqualTypeOf<{ day: string }>();
    await step.addTasks([{ email: 'a@example.com', amount: 3 }]);
    // @ts-expect-error tasks must be Invoice
    await step.addTasks([{ email: 'a@example.com' }]);
  },
  handler(task, step) {
    expectTypeOf(task).toEqualTypeOf<Task<Invoice, { sent: boolean }>>();
    expectTypeOf(task.data.amount).toBeNumber();
    expectTypeOf(step).toEqualTypeOf<Step<{ day: string }, Invoice, { sent: boolean }>>();
    expectTypeOf(task.signal).toEqualTypeOf<AbortSignal>();
    return { sent: true };
  },
  afterEach(task) {
    expectTypeOf(task.result).toEqualTypeOf<{ sent: boolean } | undefined>();
  },
  async afterAll(step) {
    const results = await step.getResults();
    expectTypeOf(results).toEqualTypeOf<Task<Invoice, { sent: boolean }>[]>();
    for await (const task of step.iterateResults()) expectTypeOf(task.data).toEqualTypeOf<Invoice>();
    const next = await step.addAfter({ step: send, tasks: [{ email: 'b@example.com', amount: 1 }], data: { day: 'mon' } });
    expectTypeOf(next).toEqualTypeOf<Step<{ day: string }, Invoice, { sent: boolean }>>();
    // @ts-expect-error addAfter tasks must match the added step's task type
    await step.addAfter({ step: send, tasks: [42] });
  },
});

describe('types', () => {
  test('a handler must return its TaskResult', () => {
    // @ts-expect-error returns a number where a string is declared
    new StepHandler<unknown, number, string>({ handler: (task) => task.data });
    new StepHandler<unknown, number, string>({ handler: (task) => String(task.data) });
  });

  test('addStep checks tasks and data against the handler', () => {
    WorkFlow.create('typed').addStep({ step: send, tasks: [{ email: 'x', amount: 1 }], data: { day: 'tue' } });
    // @ts-expect-error tasks of the wrong type
    WorkFlow.create('typed').addStep({ step: send, tasks: [1] });
    // @ts-expect-error step data of the wrong type
    WorkFlow.create('typed').addStep({ step: send, data: { day: 1 } });
    // @ts-expect-error an unknown step option
    WorkFlow.create('typed').addStep({ step: send, options: { taskTimout: 5 } });
    // @ts-expect-error an unknown workflow option
    WorkFlow.create('typed', { cleanOnDne: true });
    // @ts-expect-error `when` is one of success | failure | always
    WorkFlow.create('typed').addStep({ step: send, when: 'sometimes' });
  });

  test('a step timer is a delay in ms and a startAt Date or epoch ms; backoff is fixed or exponential', () => {
    WorkFlow.create('typed').addStep({ step: send, delay: 1000, startAt: new Date() });
    WorkFlow.create('typed').addStep({ step: send, startAt: Date.now(), options: { taskRetryBackoff: 'exponential', taskRetryDelayMax: 60_000 } });
    // @ts-expect-error startAt is a Date or a number
    WorkFlow.create('typed').addStep({ step: send, startAt: '2030-01-01' });
    // @ts-expect-error delay is a number of milliseconds
    WorkFlow.create('typed').addStep({ step: send, delay: '5s' });
    // @ts-expect-error taskRetryBackoff is fixed or exponential
    WorkFlow.create('typed').addStep({ step: send, options: { taskRetryBackoff: 'linear' } });
  });

  test('rateLimit is a name or { name, key }', () => {
    WorkFlow.create('typed').addStep({ step: send, options: { rateLimit: 'crm' } });
    WorkFlow.create('typed').addStep({ step: send, options: { rateLimit: { name: 'crm', key: 'email' } } });
    // @ts-expect-error a keyed rate limit needs its key
    WorkFlow.create('typed').addStep({ step: send, options: { rateLimit: { name: 'crm' } } });
  });

  test('import() of a step module infers its types', () => {
    WorkFlow.create('lazy').addStep({ step: import('./fixtures/steps/echo.js'), tasks: [{ value: 1, ms: 2 }] });
    // @ts-expect-error EchoData has no `nope`
    WorkFlow.create('lazy').addStep({ step: import('./fixtures/steps/echo.js'), tasks: [{ nope: 1 }] });
  });

  test('promise API and registration', () => {
    const workflow = WorkFlow.create('p').addStep({ step: send }).run();
    expectTypeOf(workflow).toEqualTypeOf<WorkFlow>();
    expectTypeOf(workflow.done()).toEqualTypeOf<Promise<WorkflowResult>>();
    workflow.on('nextTask', (next) => expectTypeOf(next.attempt).toBeNumber());
    // @ts-expect-error no such event
    workflow.on('finished', () => undefined);
    expectTypeOf<ReturnType<typeof DeFlow.register>>().toEqualTypeOf<DeFlow>();
    expectTypeOf<ReturnType<typeof DeFlow.unregister>>().toEqualTypeOf<Promise<void>>();
  });

  test('workflow definitions type their input; ids and keys are strings', () => {
    const charge = defineWorkflow('typed-charge', (input: { orderId: string }) => WorkFlow.create('typed-charge').addStep({ step: send, tasks: [{ email: input.orderId, amount: 1 }] }));
    expectTypeOf(charge.start({ orderId: '1' }, { id: 'a', key: 'b' })).toEqualTypeOf<Promise<WorkFlow>>();
    // @ts-expect-error the input is { orderId: string }
    void charge.start({ order: 1 });
    // @ts-expect-error no such start option
    void charge.start({ orderId: '1' }, { idd: 'a' });
    expectTypeOf<ReturnType<typeof DeFlow.start>>().toEqualTypeOf<Promise<WorkFlow>>();
    expectTypeOf(WorkFlow.create('k', { id: 'x', key: 'y' }).key).toEqualTypeOf<string | null>();
    // @ts-expect-error a key is a string
    WorkFlow.create('k', { key: 1 });
  });
});
