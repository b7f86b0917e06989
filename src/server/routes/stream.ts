/** GET /api/stream: Server-Sent Events (see stream-hub.ts), optionally of one workflow. */
import { defineRoute } from '../route.js';

export default defineRoute<Record<string, string>, { workflow?: string }>({
  method: 'GET',
  url: '/api/stream',
  summary: 'Server-Sent Events: workflow, steps, task, resync; ?workflow=<id> follows one workflow and its steps',
  schema: {
    querystring: { type: 'object', additionalProperties: false, properties: { workflow: { type: 'string', minLength: 1, maxLength: 1000 } } },
    response: { 200: { description: 'text/event-stream', type: 'string' } },
  },
  handler({ query, reply }, { stream }) {
    reply.hijack();
    stream.open(reply.raw, query.workflow ?? null);
    return Promise.resolve(reply);
  },
});
