/**
 * GET /api/workflows/:id/steps/:step/tasks: a step's tasks in order, a page at a time. With a
 * status filter, at most SCAN_LIMIT tasks are read per request: a page may come back short
 * (even empty) with a nextCursor to go on from.
 */
import type { JobStatus, TaskRecord } from '../../backends/backend.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { notFound } from '../http-errors.js';
import { defineRoute } from '../route.js';
import { TASK_STATUSES, pageSchema, taskSchema, taskView, taskViewWithStack } from '../views.js';

const SCAN_LIMIT = 5_000;
const READ_PAGE = 500;

interface Query {
  status?: JobStatus;
  cursor?: string;
  limit: number;
}

export default defineRoute<{ id: string; step: string }, Query>({
  method: 'GET',
  url: '/api/workflows/:id/steps/:step/tasks',
  summary: "A step's tasks in order, optionally only those with a status",
  schema: {
    params: {
      type: 'object',
      properties: { id: { type: 'string', minLength: 1, maxLength: 1000 }, step: { type: 'string', minLength: 1, maxLength: 1000 } },
      required: ['id', 'step'],
    },
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        status: { type: 'string', enum: [...TASK_STATUSES] },
        cursor: { type: 'string', minLength: 1, maxLength: 200 },
        limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
      },
    },
    response: { 200: pageSchema(taskSchema) },
  },
  async handler({ params, query }, { backend, stacks }) {
    const step = await backend.getStep(params.id, params.step);
    if (step === null) throw notFound(`no step ${JSON.stringify(params.step)} in workflow ${JSON.stringify(params.id)}`);
    let afterSeq = query.cursor === undefined ? 0 : decodeCursor<{ seq: number }>(query.cursor, { seq: 'number' }).seq;
    const items: TaskRecord[] = [];
    let scanned = 0;
    let more = true;
    while (items.length < query.limit && scanned < SCAN_LIMIT) {
      const limit = query.status === undefined ? query.limit - items.length + 1 : READ_PAGE;
      const page = await backend.getTasks(params.id, params.step, { afterSeq, limit });
      more = page.length === limit;
      for (const task of page) {
        if (items.length === query.limit) break;
        scanned++;
        afterSeq = task.seq;
        if (query.status === undefined || task.status === query.status) items.push(task);
      }
      if (!more) break;
    }
    // A full page, or a scan cut short: there may be more after afterSeq.
    const nextCursor = more ? encodeCursor({ seq: afterSeq }) : null;
    return { items: items.map(stacks ? taskViewWithStack : taskView), nextCursor };
  },
});
