import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listAudit, type AuditRow } from '../../lib/db/audit.ts';
import { USER_NAME_PATTERN } from '../../lib/db/users.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import type { GatewayContext } from '../context.ts';
import { scopeToCaller } from '../plugins/scope.ts';
import { errorResponses } from '../schemas.ts';

const Nullable = (t: ReturnType<typeof Type.String>) => Type.Union([t, Type.Null()]);
const Entry = Type.Object({
  id: Type.String({ format: 'uuid' }),
  at: Type.String({ format: 'date-time' }),
  user: Nullable(Type.String()),
  userId: Nullable(Type.String({ format: 'uuid' })),
  tokenId: Nullable(Type.String({ format: 'uuid' })),
  ip: Type.String(),
  method: Type.String(),
  route: Type.String(),
  resourceId: Nullable(Type.String()),
  jobId: Nullable(Type.String({ format: 'uuid' })),
  status: Type.Integer(),
  outcome: Type.String({ description: 'ok, denied, rejected or error' }),
});

const entryView = (row: AuditRow) => ({
  id: row.id,
  at: new Date(row.at).toISOString(),
  user: row.actor,
  userId: row.user_id,
  tokenId: row.token_id,
  ip: row.ip,
  method: row.method,
  route: row.route,
  resourceId: row.resource_id,
  jobId: row.job_id,
  status: row.status_code,
  outcome: row.outcome,
});

export const auditRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db }) => {
  app.get(
    '/v1/audit',
    {
      config: { access: 'caller' },
      schema: {
        operationId: 'listAudit',
        tags: ['audit'],
        summary: 'Who changed what, newest first: admins see everything, users their own requests.',
        querystring: Type.Object(
          {
            user: Type.Optional(Type.String({ pattern: USER_NAME_PATTERN, description: 'only this user (admins)' })),
            method: Type.Optional(Type.Union(['POST', 'PUT', 'PATCH', 'DELETE'].map((m) => Type.Literal(m)))),
            outcome: Type.Optional(Type.Union(['ok', 'denied', 'rejected', 'error'].map((m) => Type.Literal(m)))),
            jobId: Type.Optional(Type.String({ pattern: UUID_PATTERN })),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            before: Type.Optional(Type.String({ pattern: UUID_PATTERN, description: 'cursor: the `next` of the previous page' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Entry), next: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { user, method, outcome, jobId, limit, before } = request.query;
      const query = scopeToCaller(listAudit(db, { method, outcome: outcome as never, jobId, before, limit: limit + 1 }), request.caller, 'user_id');
      if (user) query.where('actor', user);
      const rows: AuditRow[] = await query;
      const page = rows.slice(0, limit);
      return { items: page.map(entryView), next: rows.length > limit ? page[page.length - 1].id : null };
    },
  );
};
