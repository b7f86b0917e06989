/** POST /api/workflows/:id/signals/:name (one workflow) and POST /api/events/:name (every unfinished one). */
import { emitGlobal, signalWorkflow } from '../../api/signals.js';
import { defineRoute } from '../route.js';

interface Body {
  data?: unknown;
  id?: string;
}

const body = { type: 'object', additionalProperties: false, properties: { data: {}, id: { type: 'string', minLength: 1, maxLength: 1000 } } } as const;
const name = { type: 'string', minLength: 1, maxLength: 500 } as const;
const options = (given: Body | undefined): { id?: string } => (given?.id === undefined ? {} : { id: given.id });

export const signalRoute = defineRoute<{ id: string; name: string }, Record<string, unknown>, Body | undefined>({
  method: 'POST',
  url: '/api/workflows/:id/signals/:name',
  summary: 'Send an event to one workflow (delivered false: it finished, or has an event with this id)',
  schema: {
    params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 1000 }, name }, required: ['id', 'name'] },
    body,
    response: { 200: { type: 'object', properties: { delivered: { type: 'boolean' } } } },
  },
  async handler({ params, body }, { backend }) {
    const delivered = await signalWorkflow(backend, params.id, params.name, body?.data, options(body), 'POST /api/workflows/:id/signals/:name');
    return { delivered };
  },
});

export const eventRoute = defineRoute<{ name: string }, Record<string, unknown>, Body | undefined>({
  method: 'POST',
  url: '/api/events/:name',
  summary: 'Send a global event to every workflow that has not finished (delivered: how many received it)',
  schema: {
    params: { type: 'object', properties: { name }, required: ['name'] },
    body,
    response: { 200: { type: 'object', properties: { delivered: { type: 'integer' } } } },
  },
  async handler({ params, body }, { backend }) {
    return { delivered: await emitGlobal(backend, params.name, body?.data, options(body)) };
  },
});
