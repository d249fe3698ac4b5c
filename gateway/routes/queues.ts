import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { GatewayContext } from '../context.ts';
import { HttpError } from '../plugins/errors.ts';
import { pageOfList } from '../pages.ts';
import { errorResponses, Page, pageQuery, QueueStats } from '../schemas.ts';

export const queueRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { bus }) => {
  app.get(
    '/v1/queues',
    {
      schema: {
        operationId: 'listQueues',
        tags: ['queues'],
        summary: 'Per operation queue: messages ready, unacknowledged, and consumers, read from the broker.',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(QueueStats), ...errorResponses(400, 401, 503) },
      },
    },
    async (request) => {
      if (!bus.isReady()) throw new HttpError(503, 'unavailable', 'the broker is unavailable; try again shortly');
      let stats: Awaited<ReturnType<typeof bus.queueStats>>;
      try {
        stats = await bus.queueStats();
      } catch {
        throw new HttpError(503, 'unavailable', 'the broker did not answer');
      }
      return pageOfList(stats, request.query, (q) => q.queue);
    },
  );
};
