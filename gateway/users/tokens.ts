import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { createToken, revokeToken, workingTokens, type TokenRow } from './token-store.ts';
import { getUserByName, USER_NAME_PATTERN } from './store.ts';
import type { GatewayContext } from '../context.ts';
import { cidrProblem } from '../plugins/ip-allow.ts';
import { conflict, HttpError, notFound } from '../plugins/errors.ts';
import { enforceLimit } from '../plugins/limits.ts';
import { defaultRatePerMinute } from '../plugins/rate-limit.ts';
import { scopeToCaller, type OwnedRoute } from '../plugins/scope.ts';
import { keyset, pageOf } from '../pages.ts';
import { errorResponses, Page, pageQuery } from '../schemas.ts';
import { boundedByParent, DEFAULT_EXPIRY_DAYS } from './token-bounds.ts';
import { Token, tokenView } from './views.ts';

/** Tokens are owned by their user: another user's token is 404, like any resource. */
const TOKENS: OwnedRoute = { kind: 'tokens', table: 'tokens', ownerColumn: 'user_id' };
const TOKEN: OwnedRoute = { ...TOKENS, idParam: 'id' };
const IdParam = Type.Object({ id: Type.String({ pattern: UUID_PATTERN, description: 'token id' }) });
const CIDR = Type.String({
  pattern: '^[0-9a-fA-F:.]{2,45}/[0-9]{1,3}$',
  description: 'an IPv4 or IPv6 subnet, e.g. 192.0.2.0/24 or 2001:db8::/32',
});

export const tokenRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db }) => {
  const defaultPerMinute = defaultRatePerMinute();
  const withUser = () => db('tokens').join('users', 'users.id', 'tokens.user_id').select('tokens.*', 'users.name as user_name');

  app.post(
    '/v1/tokens',
    {
      config: { owned: TOKENS },
      schema: {
        operationId: 'createToken',
        tags: ['tokens'],
        summary: 'Create an API token; its secret is in this answer only.',
        description:
          "A new token is never broader than the token that creates it: its scopes, expiry, source subnets and rate stay within those of the caller's token (403 naming the field otherwise). A user has at most `limits.tokens` working tokens (422).",
        body: Type.Object(
          {
            name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$', description: 'what it is for' }),
            scopes: Type.Optional(
              Type.Array(Type.Union([Type.Literal('read'), Type.Literal('write')]), {
                minItems: 1,
                maxItems: 2,
                uniqueItems: true,
                description: 'default: those of the token that creates it',
              }),
            ),
            expiresInDays: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: 3650,
                description: `default: ${DEFAULT_EXPIRY_DAYS}, or when the token that creates it expires if that is sooner`,
              }),
            ),
            allowFrom: Type.Optional(
              Type.Array(CIDR, {
                maxItems: 32,
                description: 'source addresses the token works from; empty: anywhere. Default: those of the token that creates it',
              }),
            ),
            ratePerMinute: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: 100_000,
                description:
                  "requests per minute; default: that of the token that creates it (or the gateway's). Above the gateway's default: admins only",
              }),
            ),
            user: Type.Optional(Type.String({ pattern: USER_NAME_PATTERN, description: 'admins: create the token for this user' })),
          },
          {
            additionalProperties: false,
            examples: [{ name: 'deploy from CI', scopes: ['read', 'write'], expiresInDays: 90, allowFrom: ['198.51.100.0/24'] }],
          },
        ),
        response: { 201: Token, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      body.allowFrom?.forEach((cidr, i) => {
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
      const bounds = boundedByParent(body, request.caller, request.credential, defaultPerMinute);
      const { row, secret } = await db.transaction(async (trx) => {
        // The cap counts the owner's working tokens, whoever mints (admins raise it with limits.tokens).
        await enforceLimit(trx, { userId, role: target.role }, 'tokens', workingTokens(trx, userId));
        return createToken(trx, { userId, name: body.name, ...bounds });
      });
      const view = tokenView({ ...row, user_name: target.name });
      return reply
        .code(201)
        .header('location', `/v1/tokens/${row.id}`)
        .header('cache-control', 'no-store')
        .send({ ...view, secret });
    },
  );

  app.get(
    '/v1/tokens',
    {
      config: { owned: TOKENS },
      schema: {
        operationId: 'listTokens',
        tags: ['tokens'],
        summary: "Your tokens (admins: everyone's, or one user's), newest first. Secrets are never shown again.",
        querystring: Type.Object(
          { user: Type.Optional(Type.String({ pattern: USER_NAME_PATTERN })), ...pageQuery({ default: 100, maximum: 500 }) },
          { additionalProperties: false },
        ),
        response: { 200: Page(Token), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { user, limit, after } = request.query;
      const query = scopeToCaller(
        keyset(withUser(), { columns: ['tokens.id'], desc: true }, { limit, after }),
        request.caller,
        'tokens.user_id',
      );
      if (user) query.where('users.name', user);
      const rows: (TokenRow & { user_name: string })[] = await query;
      const page = pageOf(rows, limit, (t) => [t.id]);
      return { ...page, items: page.items.map(tokenView) };
    },
  );

  app.get(
    '/v1/tokens/:id',
    {
      config: { owned: TOKEN },
      schema: {
        operationId: 'getToken',
        tags: ['tokens'],
        summary: 'One token.',
        params: IdParam,
        response: { 200: Token, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => tokenView(await withUser().where('tokens.id', request.params.id).first()),
  );

  app.delete(
    '/v1/tokens/:id',
    {
      config: { owned: TOKEN },
      schema: {
        operationId: 'revokeToken',
        tags: ['tokens'],
        summary: 'Revoke a token: it stops working at once.',
        params: IdParam,
        response: { 200: Token, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await revokeToken(db, request.params.id);
      return tokenView(await withUser().where('tokens.id', request.params.id).first());
    },
  );
};
