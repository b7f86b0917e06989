/**
 * A signal sent by a process whose node runs the waiting step's handler claims the step's first
 * jobs for that node in the same call (adoption, as a completion does); without an adopt
 * request, or for a node lacking the handler, nothing is claimed and the step stays claimable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresBackend } from '../../src/backends/postgres/postgres-backend.js';
import { dropSchemas, freshSchemaName, oneStepWorkflow, openPostgresBackend } from '../helpers/postgres.js';

const schema = freshSchemaName();
let backend: PostgresBackend;

beforeAll(async () => {
  backend = await openPostgresBackend(schema);
  await backend.registerNode({ id: 'signaller', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
});

afterAll(async () => {
  try {
    await backend.close();
  } finally {
    await dropSchemas([schema]);
  }
});

const event = (id: string) => ({ id, name: 'go', dataJson: 'null' });

describe('PostgreSQL signal adoption', () => {
  it('claims the started step for the signalling node in the same call', async () => {
    await backend.createWorkflow(oneStepWorkflow('adopted', 3, { taskConcurrency: 2, waitFor: ['go'] }));
    const result = await backend.deliverEvent('adopted', event('e1'), { nodeId: 'signaller', handlers: ['by-hand'], limit: 10 });
    expect(result.delivered).toBe(true);
    expect(result.adopted).toHaveLength(1);
    const [adopted] = result.adopted ?? [];
    expect(adopted?.step).toMatchObject({ workflowId: 'adopted', stepId: '1', name: 'by-hand' });
    // Capped by the step's taskConcurrency, like a completion's adoption.
    expect(adopted?.claim.jobs.map((job) => job.seq)).toEqual([1, 2]);
    const rest = await backend.claim({ nodeId: 'signaller', workflowId: 'adopted', stepId: '1', limit: 10 });
    expect(rest.jobs.map((job) => job.seq)).toEqual([3]);
  });

  it('claims nothing without an adopt request or for a node without the handler', async () => {
    await backend.createWorkflow(oneStepWorkflow('plain', 2, { taskConcurrency: 5, waitFor: ['go'] }));
    const result = await backend.deliverEvent('plain', event('e1'), { nodeId: 'signaller', handlers: ['other'], limit: 10 });
    expect(result.delivered).toBe(true);
    expect(result.adopted).toBeUndefined();
    await backend.createWorkflow(oneStepWorkflow('unasked', 2, { taskConcurrency: 5, waitFor: ['go'] }));
    expect((await backend.deliverEvent('unasked', event('e1'))).adopted).toBeUndefined();
    const jobs = await backend.claim({ nodeId: 'signaller', workflowId: 'plain', stepId: '1', limit: 10 });
    expect(jobs.jobs.map((job) => job.seq)).toEqual([1, 2]);
  });
});
