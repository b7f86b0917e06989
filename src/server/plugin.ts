/**
 * The server as a Fastify plugin: register it in your own Fastify app (under a prefix if you
 * like), or let createServer() make an app for it. Encapsulated: its validator, error handler
 * and hooks apply to its own routes only.
 *
 * Validation: query strings and path parameters are coerced to the schema's types; bodies are
 * not (a number sent as a string is an error), and unknown fields are refused, never dropped.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Backend } from '../backends/backend.js';
import { DeFlow } from '../api/deflow.js';
import { TokenCheck } from './auth.js';
import { installErrorHandler } from './http-errors.js';
import { checkServerOptions } from './option-check.js';
import { createMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import type { RouteDefinition, ServerContext } from './route.js';
import { defineRoute } from './route.js';
import { StatusCounts } from './status-counts.js';
import { StreamHub } from './stream-hub.js';
import type { StreamTiming } from './stream-hub.js';
import countsRoute from './routes/counts.js';
import definitionsRoute from './routes/definitions.js';
import { eventRoute, signalRoute } from './routes/events.js';
import retryRoute from './routes/retry.js';
import { cancelRoute, pauseRoute, resumeRoute } from './routes/run-control.js';
import startRoute from './routes/start.js';
import { dashboardRoutes } from './routes/dashboard.js';
import healthRoute from './routes/health.js';
import { metricsRoute } from './routes/metrics.js';
import nodesRoute from './routes/nodes.js';
import streamRoute from './routes/stream.js';
import tasksRoute from './routes/tasks.js';
import triggerRoute from './routes/trigger.js';
import { TriggerRegistry } from './triggers/types.js';
import type { TriggerParser } from './triggers/types.js';
import workflowRoute from './routes/workflow.js';
import workflowsRoute from './routes/workflows.js';

export interface DeflowServerOptions {
  /** Bearer tokens accepted (any of them). Empty or absent: no token, and only clients on this machine are answered. */
  tokens?: readonly string[];
  /** The registration whose backend is served; default: this process's (DeFlow.getInstance()). */
  deflow?: DeFlow;
  /** Largest request body in bytes (default 64 KiB): larger ones get 413. */
  bodyLimit?: number;
  /** Serve /metrics without a token (default false). */
  publicMetrics?: boolean;
  /** Serve the dashboard at / (default true). */
  dashboard?: boolean;
  /** More endpoints, defined like the built-in ones (src/server/routes/*.ts). */
  routes?: readonly RouteDefinition[];
  /** Event stream timing: heartbeat (15 s), poll of followed workflows (1 s), coalescing (200 ms). */
  stream?: Partial<StreamTiming>;
  /** Workflows by status (exact, the backend's countWorkflows): counted at most this often (5 s). */
  counts?: { maxAgeMs?: number };
  /** Task errors in the API and the dashboard carry their stack (default false: stacks name the workers' files). */
  stacks?: boolean;
  /** The parsers of POST /triggers/:name, by name (a registry may gain triggers after start; createServer's `trigger()` does that). */
  triggers?: TriggerRegistry | Readonly<Record<string, readonly TriggerParser[]>>;
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The built-in API endpoints (the dashboard, /metrics and the OpenAPI document are added by the plugin). */
export const API_ROUTES: readonly RouteDefinition[] = [healthRoute, workflowsRoute, countsRoute, workflowRoute, tasksRoute, nodesRoute, streamRoute,
  startRoute, cancelRoute, pauseRoute, resumeRoute, retryRoute, signalRoute, eventRoute, definitionsRoute, triggerRoute];

function validators(): { coercing: Ajv; strict: Ajv } {
  const base = { allErrors: false, removeAdditional: false, useDefaults: true, strict: false } as const;
  return { coercing: new Ajv({ ...base, coerceTypes: true }), strict: new Ajv({ ...base, coerceTypes: false }) };
}

export const deflowServer: FastifyPluginAsync<DeflowServerOptions> = async (app: FastifyInstance, options: DeflowServerOptions) => {
  checkServerOptions(options);
  const tokens = new TokenCheck(options.tokens ?? []);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const registration = options.deflow ?? DeFlow.getInstance();
  const { backend }: { backend: Backend } = await registration.services();
  const counts = new StatusCounts(backend, options.counts?.maxAgeMs ?? 5_000);
  const stream = new StreamHub(
    backend,
    { heartbeatMs: 15_000, pollMs: 1_000, flushMs: 200, ...options.stream },
    (error) => app.log.warn({ err: error }, 'event stream: reading the store failed'),
  );
  const metrics = createMetrics(backend, counts);
  const triggers = options.triggers instanceof TriggerRegistry ? options.triggers : new TriggerRegistry(options.triggers ?? {});
  const context: ServerContext = { backend, counts, stream, bodyLimit, triggers, stacks: options.stacks === true };

  const { coercing, strict } = validators();
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema));
  installErrorHandler(app);
  app.addHook('preClose', (done) => {
    stream.close();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    metrics.close();
    done();
  });

  const routes: RouteDefinition[] = [...API_ROUTES, metricsRoute(metrics.registry, options.publicMetrics !== true), ...(options.routes ?? [])];
  const document = openApiDocument(routes, version);
  routes.push(
    defineRoute({
      method: 'GET',
      url: '/api/openapi.json',
      summary: 'This document (no token needed)',
      auth: false,
      hidden: true,
      schema: {},
      handler: () => Promise.resolve(document),
    }),
  );
  if (options.dashboard !== false) routes.push(...dashboardRoutes());

  for (const route of routes) {
    if (route.rawBody === true) {
      // Its own context: there every content type is read as a Buffer, the JSON parser elsewhere stays.
      await app.register((scope, _options, registered) => {
        scope.removeAllContentTypeParsers();
        scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));
        addRoute(scope, route);
        registered();
      });
    } else addRoute(app, route);
  }

  function addRoute(scope: FastifyInstance, route: RouteDefinition): void {
    const needsToken = route.auth !== false;
    scope.route({
      method: route.method,
      url: route.url,
      bodyLimit,
      schema: route.schema,
      onRequest: (request, _reply, done) => {
        try {
          if (needsToken || !tokens.enabled) tokens.verify(request); // a tokenless server answers loopback only, everywhere
          done();
        } catch (error) {
          done(error as Error);
        }
      },
      handler: async (request, reply) =>
        route.handler({ params: request.params as Record<string, string>, query: request.query as Record<string, unknown>, body: request.body, request, reply }, context),
    });
  }
};
