import type { FastifyInstance } from 'fastify';

/**
 * Headers every answer carries: no content sniffing, no referrer, no framing, and no caching
 * unless a route says otherwise (API answers hold tenants' data and are per token). No
 * Content-Security-Policy: /docs (swagger-ui) runs inline scripts. Three constant headers are
 * cheaper than @fastify/helmet and its policy for a JSON API. Install on the root instance
 * before any plugin, so that /docs and 404s get them too.
 */
export function securityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
}
