import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { createToken, revokeToken, type TokenRow } from '../../lib/db/tokens.ts';
import { getUserByName, USER_NAME_PATTERN } from '../../lib/db/users.ts';
import type { GatewayContext } from '../context.ts';
import { cidrProblem } from '../plugins/ip-allow.ts';
import { conflict, HttpError, notFound } from '../plugins/errors.ts';
import { scopeToCaller, type OwnedRoute } from '../plugins/scope.ts';
import { errorResponses } from '../schemas.ts';
import { Token, tokenView } from './user-view.ts';

/** Tokens are owned by their user: another user's token is 404, like any resource. */
const TOKENS: OwnedRoute = { kind: 'tokens', table: 'tokens', ownerColumn: 'user_id' };
const TOKEN: OwnedRoute = { ...TOKENS, idParam: 'id' };
const IdParam = Type.Object({ id: Type.String({ pattern: UUID_PATTERN, description: 'token id' }) });
const CIDR = Type.String({ pattern: '^[0-9a-fA-F:.]{2,45}/[0-9]{1,3}$', description: 'an IPv4 or IPv6 subnet, e.g. 192.0.2.0/24 or 2001:db8::/32' });
const DAY_MS = 86_400_000;

export const tokenRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db }) => {
  const withUser = () => db('tokens').join('users', 'users.id', 'tokens.user_id').select('tokens.*', 'users.name as user_name');

  app.post(
    '/v1/tokens',
    {
      config: { owned: TOKENS },
      schema: {
        operationId: 'createToken',
        tags: ['tokens'],
        summary: 'Create an API token; its secret is in this answer only.',
        body: Type.Object(
          {
            name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$', description: 'what it is for' }),
            scopes: Type.Array(Type.Union([Type.Literal('read'), Type.Literal('write')]), { minItems: 1, maxItems: 2, uniqueItems: true, default: ['read', 'write'] }),
            expiresInDays: Type.Integer({ minimum: 1, maximum: 3650, default: 90 }),
            allowFrom: Type.Array(CIDR, { maxItems: 32, default: [], description: 'source addresses the token works from; empty: anywhere' }),
            ratePerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: "requests per minute; default: the gateway's" })),
            user: Type.Optional(Type.String({ pattern: USER_NAME_PATTERN, description: 'admins: create the token for this user' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Token, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      body.allowFrom.forEach((cidr, i) => {
        const problem = cidrProblem(cidr);
        if (problem) throw new HttpError(400, 'bad_request', `body/allowFrom/${i} ${problem}`);
      });
      let userId = request.caller.userId;
      if (body.user && body.user !== request.caller.actor) {
        if (request.caller.role !== 'admin') throw new HttpError(403, 'forbidden', 'only admins create tokens for other users');
        const user = await getUserByName(db, body.user);
        if (!user || user.status === 'deleted') throw notFound(`user ${body.user}`);
        userId = user.id;
      }
      const target = await db('users').where({ id: userId }).first();
      if (target.status !== 'active') throw conflict(`user ${target.name} is ${target.status}`);
      const { row, secret } = await createToken(db, {
        userId,
        name: body.name,
        scopes: body.scopes,
        allowFrom: body.allowFrom,
        ratePerMinute: body.ratePerMinute ?? null,
        expiresAt: new Date(Date.now() + body.expiresInDays * DAY_MS),
      });
      const view = tokenView({ ...row, user_name: target.name });
      return reply.code(201).header('location', `/v1/tokens/${row.id}`).header('cache-control', 'no-store').send({ ...view, secret });
    },
  );

  app.get(
    '/v1/tokens',
    {
      config: { owned: TOKENS },
      schema: {
        operationId: 'listTokens',
        tags: ['tokens'],
        summary: 'Your tokens (admins: everyone\'s, or one user\'s), newest first. Secrets are never shown again.',
        querystring: Type.Object({ user: Type.Optional(Type.String({ pattern: USER_NAME_PATTERN })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(Token) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const query = scopeToCaller(withUser().orderBy('tokens.id', 'desc').limit(1000), request.caller, 'tokens.user_id');
      if (request.query.user) query.where('users.name', request.query.user);
      const rows: (TokenRow & { user_name: string })[] = await query;
      return { items: rows.map(tokenView) };
    },
  );

  app.get(
    '/v1/tokens/:id',
    {
      config: { owned: TOKEN },
      schema: { operationId: 'getToken', tags: ['tokens'], summary: 'One token.', params: IdParam, response: { 200: Token, ...errorResponses(400, 401, 404) } },
    },
    async (request) => tokenView(await withUser().where('tokens.id', request.params.id).first()),
  );

  app.delete(
    '/v1/tokens/:id',
    {
      config: { owned: TOKEN },
      schema: { operationId: 'revokeToken', tags: ['tokens'], summary: 'Revoke a token: it stops working at once.', params: IdParam, response: { 200: Token, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      await revokeToken(db, request.params.id);
      return tokenView(await withUser().where('tokens.id', request.params.id).first());
    },
  );
};
