/**
 * GET /api/counts?name&key: workflows by status, exact (the backend's countWorkflows). Unfiltered,
 * it is counted at most every few seconds (the dashboard and the gauge share it); filtered, on
 * each request.
 */
import type { WorkflowStatus } from '../../backends/backend.js';
import { defineRoute } from '../route.js';
import { WORKFLOW_STATUSES } from '../views.js';

interface Query {
  name?: string;
  key?: string;
}

export default defineRoute<Record<string, string>, Query>({
  method: 'GET',
  url: '/api/counts',
  summary: 'Workflows by status, exact, optionally of one name and/or business key',
  schema: {
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { name: { type: 'string', minLength: 1, maxLength: 500 }, key: { type: 'string', minLength: 1, maxLength: 1000 } },
    },
    response: {
      200: {
        type: 'object',
        properties: {
          counts: { type: 'object', properties: Object.fromEntries(WORKFLOW_STATUSES.map((status) => [status, { type: 'integer' }])) },
          counted: { type: 'integer' },
          complete: { type: 'boolean' },
          at: { type: 'number' },
        },
      },
    },
  },
  async handler({ query }, { backend, counts }) {
    if (query.name === undefined && query.key === undefined) return counts.get();
    const stored = await backend.countWorkflows({ ...(query.name === undefined ? {} : { name: query.name }), ...(query.key === undefined ? {} : { key: query.key }) });
    const byStatus = Object.fromEntries(WORKFLOW_STATUSES.map((status) => [status, stored[status] ?? 0])) as Record<WorkflowStatus, number>;
    return { counts: byStatus, counted: Object.values(byStatus).reduce((sum, n) => sum + n, 0), complete: true, at: Date.now() };
  },
});
