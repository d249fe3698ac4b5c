import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AlarmRow, HealthState } from './store.ts';
import { alarmView, iso } from '../views.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import type { GatewayContext } from '../context.ts';
import { notFound } from '../plugins/errors.ts';
import { requireAdmin, scopeToCaller } from '../plugins/scope.ts';
import { keyset, pageOf } from '../pages.ts';
import { errorResponses, Page, pageQuery } from '../schemas.ts';

const HEALTH_STATES = ['healthy', 'degraded', 'repairing', 'failed'] as const satisfies readonly HealthState[];
const State = Type.Enum(HEALTH_STATES);

const Alarm = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    resource: Type.Object({ type: Type.String(), key: Type.String() }),
    cause: Type.String(),
    message: Type.String(),
    status: Type.Enum(['open', 'cleared'] as const satisfies readonly AlarmRow['status'][]),
    count: Type.Integer({ description: 'failing checks seen while open' }),
    firstSeen: Type.String({ format: 'date-time' }),
    lastSeen: Type.String({ format: 'date-time' }),
    clearedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    ackedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    ackedBy: Type.Union([Type.String(), Type.Null()]),
  },
  {
    $id: 'Alarm',
    examples: [
      {
        id: '0193a5c2-7d41-7b2e-9f3a-5c1d2e3f4a5b',
        resource: { type: 'certificate', key: 'www.example.net' },
        cause: 'certificate-failed',
        message: 'renewal failed: the CA could not reach http://www.example.net/.well-known/acme-challenge/',
        status: 'open',
        count: 3,
        firstSeen: '2026-12-05T08:00:00.000Z',
        lastSeen: '2026-12-05T10:00:00.000Z',
        clearedAt: null,
        ackedAt: null,
        ackedBy: null,
      },
    ],
  },
);

const HealthEntry = Type.Object(
  {
    resource: Type.Object({ type: Type.String(), key: Type.String() }),
    state: State,
    failures: Type.Integer(),
    since: Type.String({ format: 'date-time' }),
    checkedAt: Type.String({ format: 'date-time' }),
    problems: Type.Array(Type.Object({ cause: Type.String(), message: Type.String() })),
    history: Type.Optional(
      Type.Array(Type.Object({ state: State, at: Type.String({ format: 'date-time' }), note: Type.Union([Type.String(), Type.Null()]) })),
    ),
  },
  {
    $id: 'HealthEntry',
    examples: [
      {
        resource: { type: 'host', key: 'web1.example.net' },
        state: 'degraded',
        failures: 2,
        since: '2026-12-05T09:40:00.000Z',
        checkedAt: '2026-12-05T10:00:00.000Z',
        problems: [{ cause: 'disk-full', message: '/srv is 96% full' }],
      },
    ],
  },
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
          {
            status: Type.Union([Type.Literal('open'), Type.Literal('cleared'), Type.Literal('all')], { default: 'open' }),
            ...pageQuery({ default: 100, maximum: 500 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(Alarm), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { status, limit, after } = request.query;
      const query = scopeToCaller(
        keyset(
          db('alarms').select('*', db.raw('last_seen::text as cursor_at')),
          { columns: ['last_seen', 'id'], desc: true },
          { limit, after },
        ),
        request.caller,
      );
      if (status !== 'all') query.where('status', status);
      const rows: (AlarmRow & { cursor_at: string })[] = await query;
      const page = pageOf(rows, limit, (r) => [r.cursor_at, r.id]);
      return { ...page, items: page.items.map(alarmView) };
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
      const [alarm] = await db('alarms')
        .where({ id: request.params.id })
        .update({ acked_at: db.fn.now(), acked_by: request.caller.actor })
        .returning('*');
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
          {
            type: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]{0,30}$' })),
            history: Type.Boolean({ default: false }),
            ...pageQuery({ default: 100, maximum: 500 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(HealthEntry), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const query = scopeToCaller(keyset(db('health'), { columns: ['resource_type', 'resource_key'] }, { limit, after }), request.caller);
      if (request.query.type) query.where('resource_type', request.query.type);
      const page = pageOf(await query, limit, (r) => [r.resource_type, r.resource_key]);
      const items = [];
      for (const r of page.items) {
        const history = request.query.history
          ? (
              await db('health_history')
                .where({ resource_type: r.resource_type, resource_key: r.resource_key })
                .orderBy([
                  { column: 'at', order: 'desc' },
                  { column: 'id', order: 'desc' },
                ])
                .limit(20)
            ).map((h) => ({
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
      return { ...page, items };
    },
  );
};
