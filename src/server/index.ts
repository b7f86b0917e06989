/**
 * deflow/server: the HTTP API, event stream, metrics and dashboard (docs/server.md).
 *
 *   import { createServer, listenServer } from 'deflow/server';
 *   const app = await createServer({ tokens: [process.env.DEFLOW_TOKEN] });
 *   await listenServer(app, { host: '127.0.0.1', port: 3000, tokens });
 *
 * or, in a Fastify app of your own: `await app.register(deflowServer, { prefix: '/deflow', tokens })`.
 */
export { createServer, checkListenAddress, listenServer } from './create-server.js';
export type { CreateServerOptions, DeflowApp } from './create-server.js';
export { deflowServer, API_ROUTES, DEFAULT_BODY_LIMIT } from './plugin.js';
export type { DeflowServerOptions } from './plugin.js';
export { defineRoute } from './route.js';
export type { JsonSchema, RouteDefinition, RouteInput, ServerContext } from './route.js';
export { HttpError, badField, notFound } from './http-errors.js';
export { MIN_TOKEN_LENGTH, isLoopback } from './auth.js';
export { TriggerRegistry, WebhookSignatureError, githubWebhook, hmacWebhook, skip } from './triggers/index.js';
export type {
  GithubWebhookInput,
  GithubWebhookOptions,
  HmacAlgorithm,
  HmacWebhookOptions,
  SignatureCheck,
  SignatureEncoding,
  TriggerParser,
  TriggerRequest,
  TriggerResult,
  TriggerSkip,
  TriggerStart,
} from './triggers/index.js';
