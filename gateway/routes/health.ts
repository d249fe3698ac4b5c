import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { outboxBacklog as countBacklog } from '../../lib/db/jobs.ts';
import { outboxBacklog, registry } from '../../lib/metrics.ts';
import type { GatewayContext } from '../context.ts';

const Health = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });

/** Liveness, readiness and metrics: unauthenticated, for load balancers and Prometheus. */
export const healthRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, bus }) => {
  app.get('/healthz', { schema: { operationId: 'getHealth', tags: ['health'], summary: 'The process is alive.', security: [], response: { 200: Health } } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        tags: ['health'],
        summary: 'The database and the broker are reachable.',
        security: [],
        response: { 200: Health, 503: Health },
      },
    },
    async (_request, reply) => {
      const database = await db
        .raw('select 1')
        .then(() => 'ok')
        .catch(() => 'unavailable');
      const broker = bus.isReady() ? 'ok' : 'unavailable';
      const ready = database === 'ok' && broker === 'ok';
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks: { database, broker } });
    },
  );

  app.get('/metrics', { schema: { operationId: 'getMetrics', tags: ['health'], summary: 'Prometheus metrics.', security: [], produces: ['text/plain'], response: { 200: Type.String() } } }, async (_request, reply) => {
    await countBacklog(db)
      .then((n) => outboxBacklog.set(n))
      .catch(() => undefined);
    return reply.type(registry.contentType).send(await registry.metrics());
  });
};
