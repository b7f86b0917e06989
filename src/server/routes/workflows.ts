/** GET /api/workflows: newest first, filtered by name, business key and status, a page at a time. */
import type { WorkflowStatus } from '../../backends/backend.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { defineRoute } from '../route.js';
import { WORKFLOW_STATUSES, pageSchema, workflowSchema, workflowView } from '../views.js';

interface Query {
  name?: string;
  key?: string;
  status?: WorkflowStatus;
  cursor?: string;
  limit: number;
}

export default defineRoute<Record<string, string>, Query>({
  method: 'GET',
  url: '/api/workflows',
  summary: 'Workflows, newest first; pass nextCursor back as cursor for the next page',
  schema: {
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 500 },
        key: { type: 'string', minLength: 1, maxLength: 1000 },
        status: { type: 'string', enum: [...WORKFLOW_STATUSES] },
        cursor: { type: 'string', minLength: 1, maxLength: 2000 },
        limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
      },
    },
    response: { 200: pageSchema(workflowSchema) },
  },
  async handler({ query }, { backend }) {
    const before = query.cursor === undefined ? undefined : decodeCursor<{ createdAt: number; id: string }>(query.cursor, { createdAt: 'number', id: 'string' });
    const rows = await backend.listWorkflows({
      limit: query.limit + 1,
      ...(query.name === undefined ? {} : { name: query.name }),
      ...(query.key === undefined ? {} : { key: query.key }),
      ...(query.status === undefined ? {} : { status: query.status }),
      ...(before === undefined ? {} : { before: { createdAt: before.createdAt, id: before.id } }),
    });
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    const nextCursor = rows.length > query.limit && last !== undefined ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null;
    return { items: items.map(workflowView), nextCursor };
  },
});
