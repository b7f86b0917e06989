/**
 * `githubWebhook`: GitHub's webhooks (docs.github.com, "Validating webhook deliveries"): the body
 * is signed with HMAC-SHA256 in `X-Hub-Signature-256: sha256=<hex>`, the event is named in
 * `X-GitHub-Event`, and each delivery has a GUID in `X-GitHub-Delivery` that a redelivery keeps:
 * it becomes the workflow id, so a redelivered webhook starts nothing twice.
 */
import { headerValue, signatureVerifier } from './hmac.js';
import type { TriggerParser, TriggerRequest, TriggerResult } from './types.js';
import { skip } from './types.js';

export interface GithubWebhookOptions {
  /** The webhook's secret (several during a rotation). */
  secret: string | readonly string[];
  /** Which definition each event starts, e.g. `{ push: 'deploy', pull_request: 'review' }`. */
  on: Readonly<Record<string, string>>;
  /** Put before the delivery GUID to make the workflow id (default `github-`). */
  idPrefix?: string;
}

/** The workflow's input. */
export interface GithubWebhookInput {
  event: string;
  delivery: string;
  payload: unknown;
}

/** GitHub sends JSON, or a form with the JSON in `payload` when the hook's content type is form-encoded. */
function payloadOf(request: TriggerRequest): unknown {
  if (request.body !== undefined) return request.body;
  const type = headerValue(request, 'content-type') ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(request.rawBody.toString('utf8')).get('payload');
    if (form !== null) {
      try {
        return JSON.parse(form) as unknown;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function githubWebhook(options: GithubWebhookOptions): TriggerParser {
  const verify = signatureVerifier({ secret: options.secret, header: 'x-hub-signature-256', algorithm: 'sha256', prefix: 'sha256=' }, 'githubWebhook()');
  if (typeof options.on !== 'object' || options.on === null || Object.values(options.on).some((name) => typeof name !== 'string' || name === '')) {
    throw new TypeError("githubWebhook(): on must map event names to workflow definition names, e.g. { push: 'deploy' }");
  }
  const on = new Map(Object.entries(options.on));
  const idPrefix = options.idPrefix ?? 'github-';
  return (request): TriggerResult => {
    verify(request);
    const event = headerValue(request, 'x-github-event');
    if (event === undefined || event === '') return skip('githubWebhook: no X-GitHub-Event header');
    const workflow = on.get(event);
    if (workflow === undefined) return skip(`githubWebhook: event ${JSON.stringify(event)} starts nothing (on: ${[...on.keys()].join(', ')})`);
    const delivery = headerValue(request, 'x-github-delivery');
    if (delivery === undefined || delivery === '') return skip('githubWebhook: no X-GitHub-Delivery header');
    const payload = payloadOf(request);
    if (payload === undefined) return skip('githubWebhook: the body is not a JSON payload');
    const input: GithubWebhookInput = { event, delivery, payload };
    return { workflow, input, id: `${idPrefix}${delivery}` };
  };
}
