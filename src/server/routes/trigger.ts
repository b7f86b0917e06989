/**
 * POST /triggers/:name: the trigger's parsers, in order, until one recognises the request; that
 * one's definition is started (idempotent on the id it gives: 201 started, 200 already there).
 * No parser: 422 with their reasons. A refused signature: 401, nothing started. No bearer token:
 * the parsers check what the sender proves.
 */
import type { FastifyRequest } from 'fastify';
import { listDefinitions, requireDefinition } from '../../api/definition-registry.js';
import { HttpError, notFound } from '../http-errors.js';
import { defineRoute } from '../route.js';
import type { TriggerRequest, TriggerResult, TriggerStart } from '../triggers/types.js';

function parsedJson(request: FastifyRequest, raw: Buffer): unknown {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/([\w.+-]*\+)?json\b/i.test(type) || raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isStart(result: TriggerResult): result is TriggerStart {
  return result !== null && typeof result === 'object' && 'workflow' in result;
}

const IDENTITY = { id: { type: 'string' }, created: { type: 'boolean' }, workflow: { type: 'string' } };

export default defineRoute<{ name: string }>({
  method: 'POST',
  url: '/triggers/:name',
  summary: "Run a trigger's parsers on the request (a webhook) and start the workflow the first one names; no token (parsers check signatures)",
  auth: false,
  rawBody: true,
  schema: {
    params: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 200 } } },
    response: { 200: { type: 'object', properties: IDENTITY }, 201: { type: 'object', properties: IDENTITY } },
  },
  async handler({ params, request, reply, body }, { triggers }) {
    const parsers = triggers.get(params.name);
    if (parsers === undefined) throw notFound(`no trigger named ${JSON.stringify(params.name)}`);
    const rawBody = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
    const input: TriggerRequest = {
      method: request.method,
      headers: request.headers,
      rawBody,
      body: parsedJson(request, rawBody),
      query: request.query as Record<string, unknown>,
    };
    const reasons: string[] = [];
    for (const [index, parser] of parsers.entries()) {
      const result = await parser(input);
      if (isStart(result)) return start(result, params.name, reply);
      reasons.push(result !== null && typeof result === 'object' && typeof result.skipped === 'string' ? result.skipped : `parser #${index + 1} did not recognise it`);
    }
    throw new HttpError(422, `trigger ${JSON.stringify(params.name)}: no parser recognised the request: ${reasons.join('; ')}`);
  },
});

async function start(found: TriggerStart, trigger: string, reply: { code(status: number): unknown }): Promise<{ id: string; created: boolean; workflow: string }> {
  // A trigger naming a definition this process has not loaded is the server's configuration, not the sender's fault; still, say which.
  if (!listDefinitions().some((definition) => definition.name === found.workflow)) {
    throw new HttpError(422, `trigger ${JSON.stringify(trigger)} names the workflow ${JSON.stringify(found.workflow)}, which is not loaded (deflow serve --workflows <dir>)`);
  }
  const options = { ...(found.id === undefined ? {} : { id: found.id }), ...(found.key === undefined ? {} : { key: found.key }) };
  const handle = await requireDefinition(found.workflow, `POST /triggers/${trigger}`).start(found.input, options);
  const created = handle.created !== false;
  reply.code(created ? 201 : 200);
  return { id: handle.id, created, workflow: found.workflow };
}
