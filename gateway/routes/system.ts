import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { systemPing } from '../../queues/system/ops.ts';
import type { GatewayContext } from '../context.ts';
import { errorResponses, refTo } from '../schemas.ts';
import { accepted } from './accepted.ts';

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ pattern: '^[\\x21-\\x7e]{1,200}$', description: 'the same key from the same caller returns the same job' }),
  ),
});

export const systemRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { outbox }) => {
  app.post(
    '/v1/system/ping',
    {
      schema: {
        operationId: 'pingSystem',
        tags: ['system'],
        summary: systemPing.summary,
        headers: IdempotencyHeaders,
        body: refTo(systemPing.payload),
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 503) },
      },
    },
    async (request, reply) => {
      const { job } = await outbox.submit({
        op: systemPing,
        payload: request.body ?? {},
        actor: request.caller.actor,
        tenant: request.caller.tenant,
        ownerId: request.caller.userId,
        idempotencyKey: request.headers['idempotency-key'] ?? null,
      });
      return accepted(reply, job);
    },
  );
};
