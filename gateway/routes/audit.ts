import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AUDIT_OUTCOMES, listAudit, type AuditRow } from '../../lib/db/audit.ts';
import { USER_NAME_PATTERN } from '../users/store.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import type { GatewayContext } from '../context.ts';
import { scopeToCaller } from '../plugins/scope.ts';
import { keyset, pageOf } from '../pages.ts';
import { errorResponses, Page, pageQuery } from '../schemas.ts';

const Nullable = (t: ReturnType<typeof Type.String>) => Type.Union([t, Type.Null()]);
const Entry = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    at: Type.String({ format: 'date-time' }),
    user: Nullable(Type.String({ description: 'the user the request ran as' })),
    userId: Nullable(Type.String({ format: 'uuid' })),
    impersonator: Nullable(
      Type.String({ description: 'the admin who made the request as `user` (X-Up-As); null when they made it themselves' }),
    ),
    tokenId: Nullable(Type.String({ format: 'uuid' })),
    ip: Type.String(),
    method: Type.String(),
    route: Type.String(),
    resourceId: Nullable(Type.String()),
    jobId: Nullable(Type.String({ format: 'uuid' })),
    status: Type.Integer(),
    outcome: Type.Enum(AUDIT_OUTCOMES),
  },
  {
    examples: [
      {
        id: '0193a5c9-a1b2-7c3d-9546-f708192a3b4c',
        at: '2026-12-05T10:00:00.000Z',
        user: 'alice',
        userId: '0193a5c0-1f2e-7a3b-8c4d-5e6f7a8b9c0d',
        impersonator: null,
        tokenId: '0193a5c1-2a3b-7c4d-9e5f-6a7b8c9d0e1f',
        ip: '198.51.100.7',
        method: 'PATCH',
        route: '/v1/websites/:site',
        resourceId: 'shop',
        jobId: '0193a5c3-4b5c-7d6e-8f70-8192a3b4c5d6',
        status: 202,
        outcome: 'ok',
      },
    ],
  },
);

const entryView = (row: AuditRow) => ({
  id: row.id,
  at: new Date(row.at).toISOString(),
  user: row.actor,
  userId: row.user_id,
  impersonator: row.impersonator,
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
            user: Type.Optional(
              Type.String({ pattern: USER_NAME_PATTERN, description: 'only the requests of this user, made by them or as them (admins)' }),
            ),
            method: Type.Optional(Type.Union(['POST', 'PUT', 'PATCH', 'DELETE'].map((m) => Type.Literal(m)))),
            outcome: Type.Optional(Type.Enum(AUDIT_OUTCOMES)),
            jobId: Type.Optional(Type.String({ pattern: UUID_PATTERN })),
            ...pageQuery({ default: 50, maximum: 500 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Page(Entry),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const { user, method, outcome, jobId, limit, after } = request.query;
      const query = scopeToCaller(
        keyset(listAudit(db, { actor: user, method, outcome, jobId, limit }), { columns: ['id'], desc: true }, { limit, after }),
        request.caller,
        'user_id',
      );
      const rows: AuditRow[] = await query;
      const page = pageOf(rows, limit, (r) => [r.id]);
      return { ...page, items: page.items.map(entryView) };
    },
  );
};
