/**
 * Losing the connections: every connection of the run is terminated on the server
 * (pg_terminate_backend, as a restart would), and the run carries on. Only this test's own
 * connections are touched: they carry the application name "deflow:<schema>".
 */
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import type { BackendEvent } from '../../src/backends/backend.js';
import type { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import { eventually } from '../conformance/context.js';
import { startNode, stopAllNodes } from '../helpers/nodes.js';
import echo from '../fixtures/steps/echo.js';
import type { EchoResult } from '../fixtures/steps/echo.js';
import {
  DATABASE_URL,
  dropSchemas,
  freshSchemaName,
  oneStepWorkflow,
  openPostgresBackend,
  terminateConnectionsOf,
  withAdmin,
} from '../helpers/postgres.js';

const schemas: string[] = [];
const opened: PostgresBackend[] = [];
afterEach(async () => {
  await DeFlow.unregister();
  await stopAllNodes();
  await Promise.all(opened.splice(0).map((backend) => backend.close()));
  await dropSchemas(schemas.splice(0));
});

const fanIn = new StepHandler<unknown, number, number>({ name: 'restart-fan-in', handler: (task) => task.data });

describe('PostgreSQL connection loss', () => {
  it('finishes a run whose connections are all terminated twice mid-run', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const options = { backend: DATABASE_URL, schema, leaseMs: 5_000, checkProcessQueueInterval: 200 };
    await startNode(options);
    DeFlow.register(options); // this process works too
    await DeFlow.getInstance().ready();
    const tasks = Array.from({ length: 3_000 }, (_, i) => ({ value: i, ms: 1 }));
    const workflow = WorkFlow.create('restart')
      .addStep({ name: 'first', step: echo, tasks, options: { taskConcurrency: 8, taskMaxFailCount: 3 } })
      .addStep({ name: 'second', step: fanIn, tasks: [1, 2, 3], options: { taskMaxFailCount: 3 } })
      .addStep({ name: 'third', step: echo, tasks: tasks.slice(0, 500), options: { taskConcurrency: 8, taskMaxFailCount: 3 } })
      .run();
    await workflow.started();
    const dropped: number[] = [];
    for (const at of [1, 1_000]) {
      // Wait until the run is well under way, then cut every connection it has.
      await eventually(
        async () => {
          const progress = await withAdmin(async (client) => {
            const { rows } = await client.query<{ n: number }>(`SELECT coalesce(sum(done), 0)::int AS n FROM ${client.escapeIdentifier(schema)}.steps`);
            return rows[0]?.n ?? 0;
          });
          return progress >= at ? true : undefined;
        },
        60_000,
        10,
      );
      dropped.push(await terminateConnectionsOf(schema));
    }
    expect(dropped.every((n) => n > 0)).toBe(true);
    const result = await workflow.done().catch((error: unknown) => {
      const failed = error as { result?: { steps: { name: string; error: unknown; tasks: { error?: unknown }[] }[] } };
      const why = failed.result?.steps.map((step) => ({ step: step.name, error: step.error, task: step.tasks.find((task) => task.error)?.error }));
      throw new Error(`the run failed: ${JSON.stringify(why ?? String(error))}`);
    });
    expect(result.status).toBe('succeeded');
    expect(result.steps.map((step) => step.progress.done)).toEqual([3_000, 3, 500]);
    expect(result.steps[0]?.tasks.map((task) => (task.result as EchoResult).value)).toEqual(tasks.map((task) => task.value));
  }, 90_000);

  it('delivers a workflow end that happened while its LISTEN connection was down', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const listener = await openPostgresBackend(schema);
    const writer = await openPostgresBackend(schema);
    opened.push(listener, writer);
    const events: BackendEvent[] = [];
    listener.subscribe((event) => events.push(event));
    await writer.createWorkflow(oneStepWorkflow('missed', 1));
    await writer.registerNode({ id: 'writer', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    const { jobs } = await writer.claim({ nodeId: 'writer', workflowId: 'missed', stepId: '1', limit: 1 });
    const [job] = jobs;
    if (job === undefined) throw new Error('no job');
    // Both backends' connections share the application name; close the writer's pool last.
    await terminateConnectionsOf(schema);
    await writer.complete({
      outcomes: [{ id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token, status: 'succeeded', resultJson: '1', error: null }],
    }).catch(async () =>
      // The writer's pool may hand out a connection that was just terminated: try once more.
      writer.complete({
        outcomes: [{ id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token, status: 'succeeded', resultJson: '1', error: null }],
      }),
    );
    const deadline = Date.now() + 20_000;
    while (!events.some((event) => event.type === 'workflow' && event.workflowId === 'missed')) {
      if (Date.now() > deadline) throw new Error(`no workflow event; got ${JSON.stringify(events)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(events.filter((event) => event.type === 'workflow')).toEqual([{ type: 'workflow', workflowId: 'missed', status: 'succeeded' }]);
    expect(events.some((event) => event.type === 'wake')).toBe(true);
  }, 60_000);
});
