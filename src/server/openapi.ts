/** The OpenAPI 3.1 document, built from the route table (the same schemas Fastify validates with). */
import type { JsonSchema } from './json-schema.js';
import type { RouteDefinition } from './route.js';

function parameters(route: RouteDefinition): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const [where, schema] of [['path', route.schema.params], ['query', route.schema.querystring]] as const) {
    const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema?.required ?? []) as string[]);
    for (const [name, property] of Object.entries(properties)) {
      out.push({ name, in: where, required: where === 'path' || required.has(name), schema: property });
    }
  }
  return out;
}

export function openApiDocument(routes: readonly RouteDefinition[], version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    if (route.hidden === true) continue;
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const responses: Record<string, JsonSchema> = {};
    for (const [code, schema] of Object.entries(route.schema.response ?? { 200: {} })) {
      const media = route.url === '/api/stream' ? 'text/event-stream' : route.url === '/metrics' ? 'text/plain' : 'application/json';
      responses[code] = { description: code === '200' ? 'OK' : 'see message', content: { [media]: { schema } } };
    }
    if (route.auth !== false) responses['401'] = { description: 'missing or bad token' };
    if (route.schema.querystring !== undefined || route.schema.params !== undefined || route.schema.body !== undefined) {
      responses['400'] = { description: 'bad input; `field` names the field' };
    }
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = {
      summary: route.summary,
      parameters: parameters(route),
      ...(route.schema.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: route.schema.body } } } }),
      responses,
      ...(route.auth === false ? { security: [] } : {}),
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'deflow', version, description: 'Workflows, steps, tasks and nodes of a deflow store (docs/server.md).' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
