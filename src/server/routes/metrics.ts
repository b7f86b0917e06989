/** GET /metrics: Prometheus text exposition (see metrics.ts for the names). */
import { defineRoute } from '../route.js';

/** Set by the plugin: the registry to expose (the route table stays a list of plain definitions). */
export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

export function metricsRoute(source: MetricsSource, auth: boolean) {
  return defineRoute({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics (text exposition format)',
    auth,
    schema: { response: { 200: { type: 'string' } } },
    async handler({ reply }) {
      return reply.type(source.contentType).send(await source.metrics());
    },
  });
}
