/** GET /api/definitions: the workflow definitions loaded in this process, which POST /api/workflows starts. */
import { listDefinitions } from '../../api/definition-registry.js';
import { defineRoute } from '../route.js';

export default defineRoute({
  method: 'GET',
  url: '/api/definitions',
  summary: 'Workflow definitions loaded in this process (what POST /api/workflows can start)',
  schema: {
    response: {
      200: {
        type: 'object',
        properties: { items: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, description: { type: 'string' } } } } },
      },
    },
  },
  handler: () => Promise.resolve({ items: listDefinitions() }),
});
