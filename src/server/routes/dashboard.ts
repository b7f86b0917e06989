/** The dashboard's files: `/` and `/dashboard/<file>` (no token: they hold no data). */
import { Dashboard } from '../dashboard.js';
import { defineRoute } from '../route.js';
import type { RouteDefinition } from '../route.js';

export function dashboardRoutes(): RouteDefinition[] {
  const dashboard = new Dashboard();
  return [
    defineRoute({
      method: 'GET',
      url: '/',
      summary: 'The dashboard',
      auth: false,
      hidden: true,
      schema: {},
      handler: ({ request, reply }) => Promise.resolve(dashboard.send('index.html', request, reply)),
    }),
    defineRoute<{ file: string }>({
      method: 'GET',
      url: '/dashboard/:file',
      summary: "The dashboard's files",
      auth: false,
      hidden: true,
      schema: { params: { type: 'object', properties: { file: { type: 'string', maxLength: 100 } }, required: ['file'] } },
      handler: ({ params, request, reply }) => Promise.resolve(dashboard.send(params.file, request, reply)),
    }),
  ];
}
