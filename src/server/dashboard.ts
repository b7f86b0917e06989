/**
 * The dashboard: prebuilt static files (plain HTML, CSS and one ES module, no build step), read
 * once from ./dashboard next to this module. It holds no data: everything it shows comes from
 * /api with the token the user types in. A strict Content-Security-Policy keeps anything but its
 * own files from running in it.
 */
import { readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

const HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export class Dashboard {
  private readonly files = new Map<string, Buffer>();

  constructor() {
    const dir = new URL('./dashboard/', import.meta.url);
    for (const name of Object.keys(FILES)) this.files.set(name, readFileSync(new URL(name, dir)));
  }

  send(name: string, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const body = this.files.get(name);
    const type = FILES[name];
    if (body === undefined || type === undefined) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no dashboard file ${JSON.stringify(name)}` });
    // Mounted under a prefix, "/deflow" must become "/deflow/" so the page's relative URLs resolve under it.
    const path = request.url.split('?')[0] ?? '';
    if (name === 'index.html' && !path.endsWith('/')) return reply.redirect(`${path}/`, 308);
    return reply.headers(HEADERS).type(type).send(body);
  }
}
