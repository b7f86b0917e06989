/** GET /api/counts: workflows by status (the newest ones, counted at most every few seconds). */
import { defineRoute } from '../route.js';
import { WORKFLOW_STATUSES } from '../views.js';

export default defineRoute({
  method: 'GET',
  url: '/api/counts',
  summary: 'Workflows by status (complete=false: only the newest were counted)',
  schema: {
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
  async handler(_input, { counts }) {
    return counts.get();
  },
});
