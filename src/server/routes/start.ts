/** POST /api/workflows: starts a workflow from a definition loaded in this process (defineWorkflow). */
import { listDefinitions, requireDefinition } from '../../api/definition-registry.js';
import { notFound } from '../http-errors.js';
import { defineRoute } from '../route.js';

interface Body {
  workflow: string;
  input?: unknown;
  id?: string;
  key?: string;
}

export default defineRoute<Record<string, string>, Record<string, unknown>, Body>({
  method: 'POST',
  url: '/api/workflows',
  summary: 'Start a loaded workflow definition; with an id the start is idempotent (201 created, 200 when it existed)',
  schema: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['workflow'],
      properties: {
        workflow: { type: 'string', minLength: 1, maxLength: 500 },
        input: {},
        id: { type: 'string', minLength: 1, maxLength: 1000 },
        key: { type: 'string', minLength: 1, maxLength: 1000 },
      },
    },
    response: {
      200: { type: 'object', properties: { id: { type: 'string' }, created: { type: 'boolean' } } },
      201: { type: 'object', properties: { id: { type: 'string' }, created: { type: 'boolean' } } },
    },
  },
  async handler({ body, reply }) {
    // A name that is not loaded is a resource this server does not have: 404, naming those it has.
    if (!listDefinitions().some((definition) => definition.name === body.workflow)) {
      const known = listDefinitions().map((definition) => JSON.stringify(definition.name));
      throw notFound(
        `no workflow definition named ${JSON.stringify(body.workflow)} is loaded; ` +
          (known.length === 0 ? 'none is: start the server with --workflows <dir>' : `known definitions: ${known.join(', ')}`),
      );
    }
    const options = { ...(body.id === undefined ? {} : { id: body.id }), ...(body.key === undefined ? {} : { key: body.key }) };
    const handle = await requireDefinition(body.workflow, 'POST /api/workflows').start(body.input, options);
    const created = handle.created !== false;
    void reply.code(created ? 201 : 200);
    return { id: handle.id, created };
  },
});
