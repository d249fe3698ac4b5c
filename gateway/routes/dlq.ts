import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { DeadLetterRow } from '../jobs-store.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { findOperation } from '../../queues/catalogue.ts';
import { validator } from '../../queues/validate.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, notFound } from '../plugins/errors.ts';
import { keyset, pageOf } from '../pages.ts';
import { DeadLetter, errorResponses, Page, pageQuery } from '../schemas.ts';
import { deadLetterView } from '../views.ts';
import { accepted } from './accepted.ts';

export const dlqRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  app.get(
    '/v1/dlq',
    {
      schema: {
        operationId: 'listDeadLetters',
        tags: ['dlq'],
        summary: 'Messages that were given up on, newest first.',
        querystring: Type.Object(
          {
            all: Type.Boolean({ default: false, description: 'include replayed ones' }),
            ...pageQuery({ default: 100, maximum: 500 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(DeadLetter), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { all, limit, after } = request.query;
      const query = keyset(
        db('dead_letters').select('*', db.raw('dead_at::text as cursor_at')),
        { columns: ['dead_at', 'id'], desc: true },
        { limit, after },
      );
      if (!all) query.whereNull('replayed_at');
      const rows: (DeadLetterRow & { cursor_at: string })[] = await query;
      const page = pageOf(rows, limit, (r) => [r.cursor_at, r.id]);
      return { ...page, items: page.items.map(deadLetterView) };
    },
  );

  app.post(
    '/v1/dlq/:id/replay',
    {
      schema: {
        operationId: 'replayDeadLetter',
        tags: ['dlq'],
        summary: 'Run a dead letter again as a new job (its payload is validated again).',
        params: Type.Object({ id: Type.String({ pattern: UUID_PATTERN }) }),
        response: { 202: Type.Ref('Job'), ...errorResponses(401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const letter: DeadLetterRow | undefined = await db('dead_letters').where({ id: request.params.id }).first();
      if (!letter) throw notFound('dead letter');
      if (letter.replayed_at) throw new HttpError(409, 'conflict', `already replayed as job ${letter.replay_job_id}`);
      const { op, payload, tenant } = readLetter(letter);
      const { job } = await outbox.submit({
        op,
        payload,
        actor: request.caller.actor,
        tenant,
        retryOf: letter.job_id ?? undefined,
        alsoInTransaction: async (trx, jobId) => {
          const updated = await trx('dead_letters')
            .where({ id: letter.id })
            .whereNull('replayed_at')
            .update({ replayed_at: trx.fn.now(), replay_job_id: jobId });
          if (updated === 0) throw new HttpError(409, 'conflict', 'replayed concurrently by another request');
        },
      });
      return accepted(reply, job);
    },
  );
};

/** A dead letter can only run again if it still reads as a valid message of a known operation. */
function readLetter(letter: DeadLetterRow) {
  let message: { op?: unknown; payload?: unknown; tenant?: unknown };
  try {
    message = JSON.parse(new TextDecoder().decode(letter.content));
  } catch {
    throw new HttpError(422, 'unprocessable', 'this dead letter is not JSON and cannot be replayed');
  }
  const op = typeof message.op === 'string' ? findOperation(message.op) : undefined;
  if (!op) throw new HttpError(422, 'unprocessable', 'this dead letter names no known operation and cannot be replayed');
  const check = validator(op.payload);
  if (!check.check(message.payload)) {
    throw new HttpError(422, 'unprocessable', `this dead letter's payload is invalid for ${op.name}`, check.errors(message.payload));
  }
  return { op, payload: message.payload, tenant: typeof message.tenant === 'string' ? message.tenant : null };
}
