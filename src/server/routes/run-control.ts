/** POST /api/workflows/:id/cancel, /pause, /resume: run control by id, decided atomically by the backend. */
import type { RunControlAction } from '../../backends/backend.js';
import { controlRun } from '../../api/run-control.js';
import type { RouteDefinition } from '../route.js';
import { defineRoute } from '../route.js';

const params = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 1000 } }, required: ['id'] } as const;
const changed = { 200: { type: 'object', properties: { changed: { type: 'boolean' } } } };

function controlRoute(action: RunControlAction, summary: string): RouteDefinition {
  return defineRoute<{ id: string }, Record<string, unknown>, { reason?: string } | undefined>({
    method: 'POST',
    url: `/api/workflows/:id/${action}`,
    summary,
    schema: {
      params,
      // Only cancel takes a reason; the others an empty object (or no body).
      body: { type: 'object', additionalProperties: false, properties: action === 'cancel' ? { reason: { type: 'string', maxLength: 10_000 } } : {} },
      response: changed,
    },
    async handler({ params, body }, { backend }) {
      return { changed: await controlRun(backend, `POST /api/workflows/:id/${action}`, params.id, action, body?.reason) };
    },
  });
}

export const cancelRoute = controlRoute('cancel', 'Cancel a workflow (changed false: it had finished)');
export const pauseRoute = controlRoute('pause', 'Pause a running workflow (changed false: it was not running)');
export const resumeRoute = controlRoute('resume', 'Resume a paused workflow (changed false: it was not paused)');
