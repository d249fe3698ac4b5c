import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from 'typebox';
import { outboxBacklog as countBacklog } from '../jobs-store.ts';
import { outboxBacklog, registry } from '../../lib/metrics.ts';
import type { GatewayContext } from '../context.ts';

/** /readyz answers within this; a database that has not answered by then is unavailable. */
const READY_DEADLINE_MS = 1_000;

const Health = Type.Object(
  { status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) },
  { examples: [{ status: 'ok', checks: { database: 'ok', broker: 'ok' } }] },
);

/** Liveness, readiness and metrics: unauthenticated, for load balancers and Prometheus. */
export const probeRoutes: FastifyPluginAsyncTypebox<GatewayContext & { metrics: boolean }> = async (app, { db, bus, metrics }) => {
  // One probe at a time: a database that does not answer holds one connection, not one per /readyz.
  let probe: Promise<boolean> | null = null;
  const databaseAnswers = () => {
    probe ??= db
      .raw('select 1')
      .then(
        () => true,
        () => false,
      )
      .finally(() => (probe = null));
    return Promise.race([probe, sleep(READY_DEADLINE_MS, false, { ref: false })]);
  };

  app.get(
    '/healthz',
    { schema: { operationId: 'getHealth', tags: ['health'], summary: 'The process is alive.', security: [], response: { 200: Health } } },
    async () => ({
      status: 'ok',
    }),
  );

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
      const database = (await databaseAnswers()) ? 'ok' : 'unavailable';
      const broker = bus.isReady() ? 'ok' : 'unavailable';
      const ready = database === 'ok' && broker === 'ok';
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks: { database, broker } });
    },
  );

  if (!metrics) return;
  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: ['health'],
        summary: 'Prometheus metrics.',
        security: [],
        produces: ['text/plain'],
        response: {
          200: Type.String({
            examples: [
              '# HELP up_jobs_total Jobs submitted, by operation.\n# TYPE up_jobs_total counter\nup_jobs_total{op="website.apply"} 42\n',
            ],
          }),
        },
      },
    },
    async (_request, reply) => {
      await countBacklog(db)
        .then((n) => outboxBacklog.set(n))
        .catch(() => undefined);
      return reply.type(registry.contentType).send(await registry.metrics());
    },
  );
};
