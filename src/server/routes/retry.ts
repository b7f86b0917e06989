/** POST /api/workflows/:id/retry: runs a finished workflow's failed work again (409 when it cannot be retried). */
import { retryStored } from '../../api/workflow-retry.js';
import { defineRoute } from '../route.js';

interface Body {
  from?: string;
  step?: string;
  failedOnly?: boolean;
}

export default defineRoute<{ id: string }, Record<string, unknown>, Body | undefined>({
  method: 'POST',
  url: '/api/workflows/:id/retry',
  summary: 'Retry a finished workflow: everything failed, from a step and its dependents, or one step\'s failed tasks',
  schema: {
    params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 1000 } }, required: ['id'] },
    body: {
      type: 'object',
      additionalProperties: false,
      properties: { from: { type: 'string', minLength: 1, maxLength: 500 }, step: { type: 'string', minLength: 1, maxLength: 500 }, failedOnly: { type: 'boolean' } },
    },
    response: { 200: { type: 'object', properties: { retries: { type: 'integer' } } } },
  },
  async handler({ params, body }, { backend }) {
    const { retries } = await retryStored(backend, params.id, body ?? {}, 'POST /api/workflows/:id/retry');
    return { retries };
  },
});
