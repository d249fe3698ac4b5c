import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AlarmRow } from '../../lib/db/health.ts';
import { alarmView, iso } from '../views.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import type { GatewayContext } from '../context.ts';
import { notFound } from '../plugins/errors.ts';
import { requireAdmin, scopeToCaller } from '../plugins/scope.ts';
import { errorResponses } from '../schemas.ts';

const Alarm = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    resource: Type.Object({ type: Type.String(), key: Type.String() }),
    cause: Type.String(),
    message: Type.String(),
    status: Type.String({ description: 'open or cleared' }),
    count: Type.Integer({ description: 'failing checks seen while open' }),
    firstSeen: Type.String({ format: 'date-time' }),
    lastSeen: Type.String({ format: 'date-time' }),
    clearedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    ackedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    ackedBy: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'Alarm' },
);

const HealthEntry = Type.Object(
  {
    resource: Type.Object({ type: Type.String(), key: Type.String() }),
    state: Type.String({ description: 'healthy, degraded, repairing or failed' }),
    failures: Type.Integer(),
    since: Type.String({ format: 'date-time' }),
    checkedAt: Type.String({ format: 'date-time' }),
    problems: Type.Array(Type.Object({ cause: Type.String(), message: Type.String() })),
    history: Type.Optional(Type.Array(Type.Object({ state: Type.String(), at: Type.String({ format: 'date-time' }), note: Type.Union([Type.String(), Type.Null()]) }))),
  },
  { $id: 'HealthEntry' },
);

/** Registered at the root so that OpenAPI names them as components. */
export const alarmSchemas = [Alarm, HealthEntry];


/** What the health daemon found: resource health with its history, and alarms. */
export const alarmRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db }) => {
  app.get(
    '/v1/alarms',
    {
      // Users see the alarms and health of their own resources (scopeToCaller below).
      config: { access: 'caller' },
      schema: {
        operationId: 'listAlarms',
        tags: ['health'],
        summary: 'Alarms, newest first: users see those of their own resources.',
        querystring: Type.Object(
          { status: Type.Union([Type.Literal('open'), Type.Literal('cleared'), Type.Literal('all')], { default: 'open' }), limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Type.Ref('Alarm')) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const query = scopeToCaller(db('alarms').orderBy('last_seen', 'desc').limit(request.query.limit), request.caller);
      if (request.query.status !== 'all') query.where('status', request.query.status);
      return { items: ((await query) as AlarmRow[]).map(alarmView) };
    },
  );

  app.post(
    '/v1/alarms/:id/ack',
    {
      schema: {
        operationId: 'acknowledgeAlarm',
        tags: ['health'],
        summary: 'Acknowledge an alarm (admin): someone is on it.',
        params: Type.Object({ id: Type.String({ pattern: UUID_PATTERN }) }),
        response: { 200: Type.Ref('Alarm'), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const [alarm] = await db('alarms').where({ id: request.params.id }).update({ acked_at: db.fn.now(), acked_by: request.caller.actor }).returning('*');
      if (!alarm) throw notFound('alarm');
      return alarmView(alarm);
    },
  );

  app.get(
    '/v1/health',
    {
      // Users see the alarms and health of their own resources (scopeToCaller below).
      config: { access: 'caller' },
      schema: {
        operationId: 'listHealth',
        tags: ['health'],
        summary: 'The health of every checked resource; with `history`, its recent transitions.',
        querystring: Type.Object(
          { type: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]{0,30}$' })), history: Type.Boolean({ default: false }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Type.Ref('HealthEntry')) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const query = scopeToCaller(db('health').orderBy(['resource_type', 'resource_key']), request.caller);
      if (request.query.type) query.where('resource_type', request.query.type);
      const rows = await query;
      const items = [];
      for (const r of rows) {
        const history = request.query.history
          ? (await db('health_history').where({ resource_type: r.resource_type, resource_key: r.resource_key }).orderBy('at', 'desc').limit(20)).map((h) => ({
              state: h.state,
              at: iso(h.at)!,
              note: h.note,
            }))
          : undefined;
        items.push({
          resource: { type: r.resource_type, key: r.resource_key },
          state: r.state,
          failures: r.failures,
          since: iso(r.since)!,
          checkedAt: iso(r.checked_at)!,
          problems: r.problems,
          ...(history ? { history } : {}),
        });
      }
      return { items };
    },
  );
};
