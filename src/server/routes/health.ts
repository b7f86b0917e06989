/** GET /healthz: is the backend reachable, and how many nodes are live. No token (probes). */
import { defineRoute } from '../route.js';

export default defineRoute({
  method: 'GET',
  url: '/healthz',
  summary: 'Backend reachable, live nodes (no token needed)',
  auth: false,
  schema: {
    response: {
      200: { type: 'object', properties: { ok: { type: 'boolean' }, backend: { type: 'string' }, liveNodes: { type: 'integer' } } },
      503: { type: 'object', properties: { ok: { type: 'boolean' }, backend: { type: 'string' }, message: { type: 'string' } } },
    },
  },
  async handler({ reply }, { backend }) {
    try {
      const [nodes, now] = await Promise.all([backend.listNodes(), backend.now()]);
      return { ok: true, backend: backend.kind, liveNodes: nodes.filter((node) => node.leaseExpiresAt > now).length };
    } catch {
      // The cause may name hosts; the server log has it, a probe needs only the answer.
      return reply.code(503).send({ ok: false, backend: backend.kind, message: 'backend unreachable' });
    }
  },
});
