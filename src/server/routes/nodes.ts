/** GET /api/nodes: the nodes of the store (one per process; not paged: there are few). */
import { defineRoute } from '../route.js';
import { nodeSchema, nodeView, pageSchema } from '../views.js';

export default defineRoute({
  method: 'GET',
  url: '/api/nodes',
  summary: 'Nodes (processes) with their leases; live = lease not expired',
  schema: { response: { 200: pageSchema(nodeSchema) } },
  async handler(_input, { backend }) {
    const [nodes, now] = await Promise.all([backend.listNodes(), backend.now()]);
    return { items: nodes.map((node) => nodeView(node, now)), nextCursor: null };
  },
});
