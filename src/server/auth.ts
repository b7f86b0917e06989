/**
 * Bearer tokens: compared in constant time (each candidate against every token, no early
 * exit), never logged or echoed. A server without tokens answers loopback clients only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ValidationError } from '../errors.js';
import { HttpError } from './http-errors.js';

/** Shorter tokens are guessable: refused at start. */
export const MIN_TOKEN_LENGTH = 16;

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export function checkTokens(tokens: readonly string[]): void {
  for (const [index, token] of tokens.entries()) {
    if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
      // The token itself is never printed, only which one.
      throw new ValidationError(`token #${index + 1} must be at least ${MIN_TOKEN_LENGTH} characters without spaces (e.g. openssl rand -hex 24)`);
    }
  }
}

/** Whether `host` (an address or name to listen on, or a peer's address) is this machine only. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').replace(/^::ffff:/, '');
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

export class TokenCheck {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    checkTokens(tokens);
    this.digests = tokens.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Throws 401 unless the request carries one of the tokens (403 for a remote client of a tokenless server). */
  verify(request: FastifyRequest): void {
    if (!this.enabled) {
      if (!isLoopback(request.socket.localAddress ?? '')) throw new HttpError(403, 'this server has no token: it answers clients on this machine only');
      return;
    }
    const header = request.headers.authorization;
    if (header === undefined) throw new HttpError(401, 'missing token: send the header "Authorization: Bearer <token>"');
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    const candidate = digest(match?.[1] ?? '');
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(known, candidate) || ok;
    if (match === null || !ok) throw new HttpError(401, 'bad token');
  }
}
