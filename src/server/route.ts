/**
 * The route table's shape: each endpoint is one definition (method, url, JSON schemas, handler)
 * in a file of its own under routes/, registered by the plugin and described in the OpenAPI
 * document from the same definition. Later endpoints (cancel, retry, signals) are one more file.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Backend } from '../backends/backend.js';
import type { StreamHub } from './stream-hub.js';
import type { StatusCounts } from './status-counts.js';
import type { TriggerRegistry } from './triggers/types.js';

import type { JsonSchema } from './json-schema.js';

export type { JsonSchema };

/** What every route handler may use. */
export interface ServerContext {
  readonly backend: Backend;
  readonly counts: StatusCounts;
  readonly stream: StreamHub;
  /** Largest body a route accepts, in bytes. */
  readonly bodyLimit: number;
  /** Task errors carry their stack (the `stacks` option). */
  readonly stacks: boolean;
  /** The parsers of POST /triggers/:name. */
  readonly triggers: TriggerRegistry;
}

export interface RouteInput<Params, Query, Body> {
  params: Params;
  query: Query;
  body: Body;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteDefinition<Params = Record<string, string>, Query = Record<string, unknown>, Body = unknown> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Relative to where the server is mounted, e.g. `/api/workflows/:id`. */
  url: string;
  /** One line for the OpenAPI document. */
  summary: string;
  /** Needs the bearer token (default true). */
  auth?: boolean;
  /** Left out of the OpenAPI document (the dashboard's files). */
  hidden?: boolean;
  /** The body reaches the handler as the Buffer received, whatever its content type (to check a signature over it). */
  rawBody?: boolean;
  schema: {
    params?: JsonSchema;
    querystring?: JsonSchema;
    body?: JsonSchema;
    /** Response schemas by status code (documentation; also the serializer's guide). */
    response?: Record<number, JsonSchema>;
  };
  /** What it returns is sent as JSON; a handler that writes the reply itself returns the reply. */
  handler(input: RouteInput<Params, Query, Body>, context: ServerContext): Promise<unknown>;
}

/** Keeps a definition's parameter types while listing it with others. */
export function defineRoute<Params = Record<string, string>, Query = Record<string, unknown>, Body = unknown>(
  route: RouteDefinition<Params, Query, Body>,
): RouteDefinition {
  return route as unknown as RouteDefinition;
}
