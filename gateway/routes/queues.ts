import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { GatewayContext } from '../context.ts';
import { HttpError } from '../plugins/errors.ts';
import { errorResponses } from '../schemas.ts';

export const queueRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { bus }) => {
  app.get(
    '/v1/queues',
    {
      schema: {
        operationId: 'listQueues',
        tags: ['queues'],
        summary: 'Per operation queue: messages ready, unacknowledged, and consumers, read from the broker.',
        response: { 200: Type.Object({ items: Type.Array(Type.Ref('QueueStats')) }), ...errorResponses(401, 503) },
      },
    },
    async () => {
      if (!bus.isReady()) throw new HttpError(503, 'unavailable', 'the broker is unavailable; try again shortly');
      try {
        return { items: await bus.queueStats() };
      } catch {
        throw new HttpError(503, 'unavailable', 'the broker did not answer');
      }
    },
  );
};
