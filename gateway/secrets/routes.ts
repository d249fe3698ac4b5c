import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import { SECRET_MAX_BYTES } from '../../lib/secrets/sealing.ts';
import { SECRET_NAME } from '../../lib/validate/secrets.ts';
import type { GatewayContext } from '../context.ts';
import { applyJobs } from '../containers/plans.ts';
import type { ContainerRow } from '../containers/store.ts';
import { ownerOf } from '../containers/store.ts';
import { appsUsing, type AppRow } from '../apps/store.ts';
import { refuseWhileDeploying, releaseJobs } from '../apps/plans.ts';
import { keyset, mapPage, pageOf } from '../pages.ts';
import { requesterOf } from '../plan.ts';
import type { Caller } from '../plugins/auth.ts';
import { conflict, HttpError } from '../plugins/errors.ts';
import { ownedByName, scopeToCaller } from '../plugins/scope.ts';
import { errorResponses, Page, pageQuery, refTo } from '../schemas.ts';
import { USER_NAME_PATTERN } from '../users/store.ts';
import { jobView } from '../views.ts';
import { containersUsing, OWN_SECRET_PREFIX, putSecret, resealAll, type SecretRow } from './store.ts';
import { SecretValue, SecretView, secretView } from './views.ts';

const Params = Type.Object({ name: Type.String({ pattern: SECRET_NAME }) });
const OwnerQuery = Type.Object(
  {
    owner: Type.Optional(
      Type.String({
        pattern: USER_NAME_PATTERN,
        description: 'admins: whose secret, when several users have one of this name (409 otherwise)',
      }),
    ),
  },
  { additionalProperties: false },
);
const KIND = { kind: 'secrets', table: 'secrets', idColumn: 'name' };
const TAGS = ['secrets'];
/** Per user: each may hold 64 KiB, and every one travels (sealed) with each container that reads it. */
const MAX_SECRETS = 200;

/**
 * The apps that read a secret: by their spec (a secret use, the password of their database), or
 * through replicas that still do (a release before, until it is retired; their DATABASE_URL).
 */
const appsReading = (db: Knex, row: SecretRow): Promise<string[]> =>
  db('apps')
    .whereIn('id', appsUsing(db, row.owner_id, row.name).select('id'))
    .orWhereIn('id', containersUsing(db, row.owner_id, row.name).whereNotNull('app_id').select('app_id'))
    .orderBy('name')
    .pluck('name');

export const secretRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  const secretOf = (caller: Caller, name: string, owner?: string) => ownedByName<SecretRow>(db, 'secrets', 'secret', caller, name, owner);

  async function view(row: SecretRow) {
    const usedBy: string[] = await containersUsing(db, row.owner_id, row.name).whereNull('app_id').orderBy('name').pluck('name');
    const apps = await appsReading(db, row);
    return secretView(row, { owner: (await ownerOf(db, row.owner_id)).name, usedBy, apps });
  }

  app.put(
    '/v1/secrets/:name',
    {
      // Like a create: the owner is the caller (an admin acts for a user with --as); there is no row to look up before.
      config: { owned: KIND },
      schema: {
        operationId: 'setSecret',
        tags: TAGS,
        summary:
          'Create a secret, or give it a new value: sealed at rest, never shown again. The containers that read it are applied again with the new value, the apps that read it get a new release (their jobs are in the answer; 409 while one of those apps deploys).',
        params: Params,
        body: refTo(SecretValue),
        response: { 200: Type.Ref('SecretChange'), 201: Type.Ref('SecretChange'), ...errorResponses(400, 401, 422, 503) },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const value = Buffer.from(request.body.value, 'utf8');
      if (value.length > SECRET_MAX_BYTES) {
        const message = `body/value is ${value.length} bytes; at most ${SECRET_MAX_BYTES}`;
        throw new HttpError(400, 'bad_request', message, [message]);
      }
      if (name.startsWith(OWN_SECRET_PREFIX)) {
        const message = `params/name: names beginning with ${OWN_SECRET_PREFIX} are kept by up (an app's DATABASE_URL)`;
        throw new HttpError(400, 'bad_request', message, [message]);
      }
      const ownerId = request.caller.userId;
      let created = false;
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const row = await trx('secrets').where({ owner_id: ownerId, name }).forUpdate().first();
        if (!row) {
          const [{ count }] = await trx('secrets').where({ owner_id: ownerId }).count({ count: '*' });
          if (Number(count) >= MAX_SECRETS)
            throw new HttpError(422, 'limit_reached', `you have ${MAX_SECRETS} secrets, the most one user may keep: delete one first`);
        }
        const stored = await putSecret(trx, ownerId, name, value);
        created = stored === 'created';
        if (stored !== 'changed') return [];
        // Each app that reads it: a new release whose replicas carry the new value (no downtime).
        const plans = [];
        const apps: AppRow[] = await appsUsing(trx, ownerId, name).forUpdate().orderBy('name');
        for (const app of apps) {
          refuseWhileDeploying(app);
          if (app.image) plans.push(...(await releaseJobs(trx, app, app.image, 'secret')));
        }
        // Each other container that reads it: a new generation whose spec carries the new value.
        const users: ContainerRow[] = await containersUsing(trx, ownerId, name).whereNull('app_id').forUpdate().orderBy('name');
        for (const container of users) {
          await trx('containers')
            .where({ id: container.id })
            .update({ generation: container.generation + 1, updated_at: trx.fn.now() });
          plans.push(...(await applyJobs(trx, await trx('containers').where({ id: container.id }).first())));
        }
        return plans;
      });
      const row: SecretRow = await db('secrets').where({ owner_id: ownerId, name }).first();
      return reply
        .code(created ? 201 : 200)
        .header('location', `/v1/secrets/${name}`)
        .send({ secret: await view(row), jobs: jobs.map((j) => jobView(j, request.caller)) });
    },
  );

  app.post(
    '/v1/secrets/rekey',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'rekeySecrets',
        tags: TAGS,
        summary:
          'After a key rotation (the new key first in UP_SECRETS_KEY_FILE, the old below it): seal every stored value again with the new key, so the old line can go. Values and what containers have are unchanged.',
        response: { 200: Type.Ref('SecretsRekeyed'), ...errorResponses(401, 403, 503) },
      },
    },
    async (request) => {
      const report = await resealAll(db);
      request.log.info(
        { checked: report.checked, resealed: report.resealed, unreadable: report.unreadable.length },
        'secrets sealed again',
      );
      return report;
    },
  );

  app.get(
    '/v1/secrets',
    {
      config: { owned: KIND },
      schema: {
        operationId: 'listSecrets',
        tags: TAGS,
        summary: 'Your secrets by name, with their dates (admins: all). Never their values.',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(SecretView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows: SecretRow[] = await scopeToCaller(keyset(db('secrets'), { columns: ['name', 'id'] }, { limit, after }), request.caller);
      return mapPage(
        pageOf(rows, limit, (r) => [r.name, r.id]),
        view,
      );
    },
  );

  app.get(
    '/v1/secrets/:name',
    {
      config: { owned: { ...KIND, idParam: 'name' } },
      schema: {
        operationId: 'getSecret',
        tags: TAGS,
        summary: 'One secret: its version, dates and the containers that read it. Never its value.',
        params: Params,
        querystring: OwnerQuery,
        response: { 200: Type.Ref('Secret'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => view(await secretOf(request.caller, request.params.name, request.query.owner)),
  );

  app.delete(
    '/v1/secrets/:name',
    {
      config: { owned: { ...KIND, idParam: 'name' } },
      schema: {
        operationId: 'deleteSecret',
        tags: TAGS,
        summary: 'Delete a secret no container or app reads (409 names the ones that do).',
        params: Params,
        querystring: OwnerQuery,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const secret = await secretOf(request.caller, request.params.name, request.query.owner);
      await db.transaction(async (trx) => {
        const row: SecretRow | undefined = await trx('secrets').where({ id: secret.id }).forUpdate().first();
        if (!row) return;
        const apps = await appsReading(trx, row);
        if (apps.length) throw conflict(`app(s) ${apps.join(', ')} read ${row.name}: remove it from them first (up apps edit)`);
        const users: string[] = await containersUsing(trx, row.owner_id, row.name).orderBy('name').pluck('name');
        if (users.length)
          throw conflict(`container(s) ${users.join(', ')} read ${row.name}: remove it from them first (up containers edit)`);
        await trx('secrets').where({ id: row.id }).delete();
      });
      return reply.code(204).send(null);
    },
  );
};
