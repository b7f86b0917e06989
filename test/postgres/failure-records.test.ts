/**
 * What PostgreSQL stores for failures (docs/backends/step-machine.md#failures): records without
 * any message, worded only when read; and the node-loss rule taking its minimum attempts as a
 * parameter, not a literal of the SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClaimedJob, JobOutcome } from '../../src/backends/backend.js';
import { NODE_LOST } from '../../src/backends/failures.js';
import type { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import { dropSchemas, freshSchemaName, oneStepWorkflow, openPostgresBackend, withAdmin } from '../helpers/postgres.js';

const schema = freshSchemaName();
let backend: PostgresBackend;

beforeAll(async () => {
  backend = await openPostgresBackend(schema);
});

afterAll(async () => {
  try {
    await backend.close();
  } finally {
    await dropSchemas([schema]);
  }
});

async function stored<T>(sql: string, values: unknown[] = []): Promise<T[]> {
  return withAdmin(async (client) => (await client.query(sql.replaceAll('$schema', client.escapeIdentifier(schema)), values)).rows as T[]);
}

function outcome(job: ClaimedJob, failed: boolean): JobOutcome {
  const lease = { id: job.id, workflowId: job.workflowId, stepId: job.stepId, kind: job.kind, seq: job.seq, token: job.token };
  return failed ? { ...lease, status: 'failed', error: { name: 'Error', message: 'boom' } } : { ...lease, status: 'succeeded', resultJson: '1', error: null };
}

describe('PostgreSQL failure records', () => {
  it('stores records without messages, with the stage the step failed in, and words them when read', async () => {
    await backend.createWorkflow(oneStepWorkflow('fails', 3));
    await backend.registerNode({ id: 'worker', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    const { jobs } = await backend.claim({ nodeId: 'worker', workflowId: 'fails', stepId: '1', limit: 10 });
    expect((await backend.complete({ outcomes: jobs.map((job) => outcome(job, job.seq === 2)) })).stale).toEqual([]);

    const taskFailure = { code: 'ERR_TASK_FAILED', step: 'by-hand', stepId: '1', status: 'failed', stage: 'tasks', task: 2, failed: 1, total: 3, cause: { name: 'Error', message: 'boom' } };
    expect(await stored("SELECT error, failed_stage FROM $schema.steps WHERE workflow_id = 'fails'")).toEqual([
      { error: taskFailure, failed_stage: 'tasks' },
    ]);
    expect(await stored("SELECT error FROM $schema.workflows WHERE id = 'fails'")).toEqual([
      { error: { code: 'ERR_STEP_FAILED', step: 'by-hand', stepId: '1', status: 'failed', stage: 'tasks', cause: taskFailure } },
    ]);

    expect((await backend.getWorkflow('fails'))?.error).toMatchObject({
      name: 'StepFailedError',
      message: 'step "by-hand" failed: 1 of 3 tasks failed; first failure (task 2): boom',
      cause: { name: 'Error', code: 'ERR_TASK_FAILED', message: '1 of 3 tasks failed; first failure (task 2): boom', task: 2 },
    });
  });

  it('counts a node loss apart from failed attempts, with the record and the default maxNodeLosses it is given', async () => {
    // Jobs of steps stored without maxNodeLosses (the default applies), held by nodes that die.
    const loseJobOf = async (workflowId: string): Promise<void> => {
      await backend.createWorkflow(oneStepWorkflow(workflowId, 1));
      await backend.registerNode({ id: `holder-${workflowId}`, host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      expect((await backend.claim({ nodeId: `holder-${workflowId}`, workflowId, stepId: '1', limit: 1 })).jobs).toHaveLength(1);
      await stored("UPDATE $schema.nodes SET lease_expires_at = now() - interval '1 hour' WHERE id = $1", [`holder-${workflowId}`]);
    };
    // Through the backend (DEFAULT_MAX_NODE_LOSSES = 3): ready again.
    await loseJobOf('lost-default');
    expect((await backend.recoverExpired(10)).recovered).toBe(1);
    // With a default of 1, lost once is for good.
    await loseJobOf('lost-strict');
    const [strict] = await stored<{ recovered: number }>('SELECT recovered FROM $schema.recover_expired(10, 0, $1::jsonb, 1)', [
      JSON.stringify(NODE_LOST),
    ]);
    expect(strict?.recovered).toBe(1);

    const jobs = await stored<{ workflow_id: string; status: string; failed_count: number; lost_count: number; error: unknown }>(
      'SELECT s.workflow_id, j.status::text, j.failed_count, j.lost_count, j.error FROM $schema.jobs j JOIN $schema.steps s ON s.pk = j.step_pk ' +
        "WHERE s.workflow_id LIKE 'lost-%' ORDER BY s.workflow_id",
    );
    const record = { code: 'ERR_NODE_LOST', step: 'by-hand', task: 1, lostCount: 1 };
    expect(jobs).toEqual([
      { workflow_id: 'lost-default', status: 'requeued', failed_count: 0, lost_count: 1, error: { ...record, maxNodeLosses: 3 } },
      { workflow_id: 'lost-strict', status: 'failed', failed_count: 0, lost_count: 1, error: { ...record, maxNodeLosses: 1 } },
    ]);
  });

  it('recovers a lost job of a step whose stored maxNodeLosses is not a number, by the default', async () => {
    // Options others wrote: a cast of "abc" would fail the whole recovery pass, every time.
    await backend.createWorkflow(oneStepWorkflow('lost-junk', 1));
    await backend.registerNode({ id: 'holder-junk', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
    expect((await backend.claim({ nodeId: 'holder-junk', workflowId: 'lost-junk', stepId: '1', limit: 1 })).jobs).toHaveLength(1);
    await stored(`UPDATE $schema.steps SET options = options || '{"maxNodeLosses":"abc"}' WHERE workflow_id = 'lost-junk'`);
    await stored("UPDATE $schema.nodes SET lease_expires_at = now() - interval '1 hour' WHERE id = 'holder-junk'");
    expect((await backend.recoverExpired(10)).recovered).toBe(1);
    const [job] = await stored<{ status: string; error: { maxNodeLosses?: number } }>(
      "SELECT j.status::text, j.error FROM $schema.jobs j JOIN $schema.steps s ON s.pk = j.step_pk WHERE s.workflow_id = 'lost-junk'",
    );
    expect(job).toMatchObject({ status: 'requeued', error: { maxNodeLosses: 3 } });
  });
});
