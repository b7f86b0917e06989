/**
 * HMAC signatures over the raw body, compared in constant time, and `hmacWebhook`: a parser for
 * any sender that signs its body with a shared secret in a header.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { TriggerParser, TriggerRequest, TriggerResult } from './types.js';
import { WebhookSignatureError, isList, skip } from './types.js';

export type HmacAlgorithm = 'sha256' | 'sha512' | 'sha1';
export type SignatureEncoding = 'hex' | 'base64';

export interface SignatureCheck {
  /** The shared secret; several during a rotation (any of them verifies). */
  secret: string | readonly string[];
  /** The header carrying the signature (any case). */
  header: string;
  algorithm?: HmacAlgorithm;
  /** How the digest is written in the header (default hex). */
  encoding?: SignatureEncoding;
  /** Text before the digest in the header, e.g. `sha256=` (default none); a header without it is refused. */
  prefix?: string;
}

function secretsOf(secret: string | readonly string[], where: string): readonly string[] {
  const secrets: readonly string[] = typeof secret === 'string' ? [secret] : secret;
  if (!isList(secrets) || secrets.length === 0 || secrets.some((one) => typeof one !== 'string' || one.length === 0)) {
    throw new TypeError(`${where}: secret must be a non-empty string (or an array of them)`);
  }
  return secrets;
}

export function headerValue(request: TriggerRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Builds the check once (secrets validated at registration); the returned function throws WebhookSignatureError. */
export function signatureVerifier(check: SignatureCheck, where: string): (request: TriggerRequest) => void {
  const secrets = secretsOf(check.secret, where);
  const algorithm = check.algorithm ?? 'sha256';
  const encoding = check.encoding ?? 'hex';
  const prefix = check.prefix ?? '';
  if (!['sha256', 'sha512', 'sha1'].includes(algorithm)) throw new TypeError(`${where}: algorithm must be sha256, sha512 or sha1, got ${JSON.stringify(algorithm)}`);
  if (encoding !== 'hex' && encoding !== 'base64') throw new TypeError(`${where}: encoding must be hex or base64, got ${JSON.stringify(encoding)}`);
  if (typeof check.header !== 'string' || check.header === '') throw new TypeError(`${where}: header must name the signature header`);
  return (request) => {
    const sent = headerValue(request, check.header);
    if (sent === undefined || sent === '') throw new WebhookSignatureError(`missing signature: no ${check.header} header`);
    if (!sent.startsWith(prefix)) throw new WebhookSignatureError(`bad signature: ${check.header} must start with ${JSON.stringify(prefix)}`);
    const text = sent.slice(prefix.length).trim();
    const given = Buffer.from(text, encoding);
    let ok = false;
    for (const secret of secrets) {
      const expected = createHmac(algorithm, secret).update(request.rawBody).digest();
      // timingSafeEqual throws on different lengths; a digest's length is no secret.
      ok = (given.length === expected.length && timingSafeEqual(given, expected)) || ok;
    }
    if (!ok) throw new WebhookSignatureError(`bad signature: ${check.header} does not match the body`);
  };
}

export interface HmacWebhookOptions extends SignatureCheck {
  /** The definition to start, or a function choosing it from the (verified) request; null/undefined skips the request. */
  workflow: string | ((request: TriggerRequest) => string | null | undefined);
  /** The header whose value becomes the workflow id (a delivery id), so a redelivery starts nothing twice. */
  idHeader?: string;
  /** Or the id computed from the request (wins over idHeader). */
  id?: (request: TriggerRequest) => string | undefined;
  /** The workflow's input (default: the JSON body, else the body as UTF-8 text). */
  input?: (request: TriggerRequest) => unknown;
}

export function hmacWebhook(options: HmacWebhookOptions): TriggerParser {
  const verify = signatureVerifier(options, 'hmacWebhook()');
  if (typeof options.workflow !== 'string' && typeof options.workflow !== 'function') throw new TypeError('hmacWebhook(): workflow must be a definition name or a function');
  return (request): TriggerResult => {
    verify(request);
    const workflow = typeof options.workflow === 'string' ? options.workflow : options.workflow(request);
    if (workflow === null || workflow === undefined) return skip('hmacWebhook: no workflow for this request');
    const id = options.id !== undefined ? options.id(request) : options.idHeader === undefined ? undefined : headerValue(request, options.idHeader);
    const input = options.input !== undefined ? options.input(request) : request.body !== undefined ? request.body : request.rawBody.toString('utf8');
    return { workflow, input, ...(id === undefined || id === '' ? {} : { id }) };
  };
}
