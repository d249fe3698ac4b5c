import type { FastifyInstance } from 'fastify';
import { httpRequestDuration, httpRequests } from '../../lib/metrics.ts';

/**
 * Counts every answer by method, route pattern and status, and times it. The pattern
 * (`/v1/jobs/:id`), never the raw URL: ids and names would each make a series of their own.
 * A request that matched no route counts as `unmatched`.
 */
export function httpMetrics(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    httpRequestDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    done();
  });
}
