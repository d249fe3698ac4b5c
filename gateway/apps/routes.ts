import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import { appTemplates, loadAppTemplate, renderAppSpec } from '../../lib/app-templates.ts';
import { InputError } from '../../lib/errors.ts';
import type { GatewayContext } from '../context.ts';
import { DEFAULT_CONTAINER_LIMITS, ownerOf, portsOf, type ContainerRow } from '../containers/store.ts';
import { placeContainer } from '../containers/placement.ts';
import { logsJob } from '../containers/plans.ts';
import type { JobRow } from '../jobs-store.ts';
import { keyset, mapPage, pageOf, pageOfList } from '../pages.ts';
import { requesterOf, type JobPlan } from '../plan.ts';
import { checkSecretUses } from '../secrets/store.ts';
import { checkAttachment } from './database.ts';
import type { Caller } from '../plugins/auth.ts';
import { conflict, notFound } from '../plugins/errors.ts';
import { enforceLimit } from '../plugins/limits.ts';
import { ownedByName, scopeToCaller } from '../plugins/scope.ts';
import { errorResponses, Page, pageQuery, refTo } from '../schemas.ts';
import { USER_NAME_PATTERN } from '../users/store.ts';
import { jobView } from '../views.ts';
import { planWebsiteCreate } from '../websites/changes.ts';
import {
  CONTENT_JSON_BODY_LIMIT,
  CONTENT_LIMITS,
  ContentUpload,
  acceptArchiveStreams,
  deployContent,
  receiveArchive,
} from '../websites/content.ts';
import { placeFile } from '../websites/content-store.ts';
import type { WebsiteRow } from '../websites/store.ts';
import { appRemoval, buildJob, refuseWhileDeploying, releaseJobs, specOf } from './plans.ts';
import { APP_NAME, type AppRow } from './store.ts';
import { AppCreate, AppEdit, AppTemplateView, AppView, appView } from './views.ts';

const Params = Type.Object({ app: Type.String({ pattern: APP_NAME }) });
const OwnerQuery = Type.Object(
  {
    owner: Type.Optional(
      Type.String({
        pattern: USER_NAME_PATTERN,
        description: 'admins: whose app, when several users have one of this name (409 otherwise)',
      }),
    ),
  },
  { additionalProperties: false },
);
const owned = (idParam?: string) => ({ owned: { kind: 'apps', table: 'apps', idColumn: 'name', ...(idParam ? { idParam } : {}) } });
const TAGS = ['apps'];
/** Paths under /v1/apps that are not apps. */
const RESERVED_NAMES = ['templates'];

type Reply = { request: { caller: Caller }; code(n: number): any };

export const appRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  acceptArchiveStreams(app);

  const appOf = (caller: Caller, name: string, owner?: string) => ownedByName<AppRow>(db, 'apps', 'app', caller, name, owner);

  async function view(row: AppRow) {
    const site: WebsiteRow = await db('websites').where({ id: row.website_id }).first();
    const serving: ContainerRow[] = await db('containers').where({ app_id: row.id, service: row.name }).orderBy('name');
    return appView(row, {
      owner: (await ownerOf(db, row.owner_id)).name,
      website: site.name,
      urls: [site.temp_domain, ...site.spec.domains.filter((d) => d !== site.temp_domain)].map((d) => `http://${d}/`),
      serving: await Promise.all(
        serving.map(async (c) => ({ name: c.name, status: c.status, port: (await portsOf(db, c.id))[0]?.host ?? null })),
      ),
    });
  }

  const changed = async (reply: Reply, id: string, jobs: JobRow[]) =>
    reply
      .code(202)
      .header('location', jobs.at(-1) ? `/v1/jobs/${jobs.at(-1)!.id}` : '/v1/apps')
      .send({ app: await view(await db('apps').where({ id }).first()), jobs: jobs.map((j) => jobView(j, reply.request.caller)) });

  /** Locks the app's row for a change, and refuses one while a deploy runs. */
  async function forChange(trx: Knex.Transaction, id: string): Promise<AppRow> {
    const row: AppRow | undefined = await trx('apps').where({ id }).forUpdate().first();
    if (!row) throw notFound('app');
    refuseWhileDeploying(row);
    return row;
  }

  app.get(
    '/v1/apps/templates',
    {
      config: { access: 'caller' },
      schema: {
        operationId: 'listAppTemplates',
        tags: TAGS,
        summary: 'The templates an app is made from.',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(AppTemplateView), ...errorResponses(400, 401) },
      },
    },
    async (request) =>
      pageOfList(
        appTemplates().map((t) => ({ name: t.name, description: t.meta.description, builds: t.containerfile !== undefined })),
        request.query,
        (t) => t.name,
      ),
  );

  app.post(
    '/v1/apps',
    {
      config: owned(),
      schema: {
        operationId: 'createApp',
        tags: TAGS,
        summary:
          'Create an app from a template: its website (answering at once at its temporary subdomain) and, for a template that runs an image, its first release.',
        body: refTo(AppCreate),
        response: { 202: Type.Ref('AppChange'), ...errorResponses(400, 401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const {
        name,
        template: templateName,
        proxy,
        domains,
        replicas = 1,
        env = {},
        secrets = [],
        database,
        image,
        baseImage,
      } = request.body;
      const template = (() => {
        try {
          return loadAppTemplate(templateName);
        } catch {
          const known = appTemplates().map((t) => t.name);
          throw new InputError('body/template', `names no template (${known.join(', ')})`, 422);
        }
      })();
      const builds = template.containerfile !== undefined;
      if (builds && image) throw new InputError('body/image', `is built from your source by the ${template.name} template: deploy it`, 422);
      if (!builds && baseImage)
        throw new InputError('body/baseImage', `means nothing to the ${template.name} template, which builds nothing`, 422);
      // Strict here: a template that needs an image and got none is the caller's 422.
      const spec = renderAppSpec(template, { name, ...(image ? { image } : {}) });
      if (!spec.container && (secrets.length || database))
        throw new InputError(
          secrets.length ? 'body/secrets' : 'body/database',
          `means nothing to the ${template.name} template, which runs no container`,
          422,
        );
      const id = randomUUID();
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const ownerId = request.caller.userId;
        if (await trx('apps').where({ owner_id: ownerId, name }).first('id')) throw conflict(`you already have an app named ${name}`);
        if (RESERVED_NAMES.includes(name)) throw new InputError('body/name', `is a word of the API (/v1/apps/${name})`);
        if (await trx('containers').where({ owner_id: ownerId, name }).first('id'))
          throw conflict(`you have a container named ${name}: the app's site would route to it`);
        if (spec.container) {
          await checkSecretUses(trx, ownerId, secrets, { ...spec.container.env, ...env });
          if (database) await checkAttachment(trx, ownerId, database, { ...spec.container.env, ...env });
          await enforceLimit(trx, request.caller, 'containers', trx('containers').where({ owner_id: ownerId }), replicas);
        }
        const host = spec.container ? await placeContainer(trx, DEFAULT_CONTAINER_LIMITS.memoryMb * replicas) : null;
        const { site, plans } = await planWebsiteCreate(
          trx,
          request.caller,
          {
            name,
            proxy,
            ...(domains ? { domains } : {}),
            ...(spec.container
              ? { routes: [{ path: '/', upstream: { container: name, port: spec.container.port } }], staticPaths: spec.static }
              : {}),
          },
          { routesInBody: false },
        );
        const row: AppRow = {
          id,
          name,
          owner_id: ownerId,
          template: template.name,
          website_id: site.id,
          host: host?.name ?? null,
          replicas,
          env,
          secrets,
          database: database ?? null,
          base_image: baseImage ?? null,
          image: null,
          previous_image: null,
          release: 0,
          deploy: null,
          created_at: new Date(),
          updated_at: new Date(),
        };
        await trx('apps').insert({
          ...row,
          env: JSON.stringify(env),
          secrets: JSON.stringify(secrets),
          database: row.database && JSON.stringify(row.database),
        });
        // An image to run is known now (the template's, or the caller's): its first release starts with the app.
        if (spec.container && !builds) plans.push(...(await releaseJobs(trx, row, spec.container.image, 'create')));
        return plans;
      });
      return changed(reply, id, jobs);
    },
  );

  app.get(
    '/v1/apps',
    {
      config: owned(),
      schema: {
        operationId: 'listApps',
        tags: TAGS,
        summary: 'Your apps by name (admins: all).',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(AppView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows: AppRow[] = await scopeToCaller(keyset(db('apps'), { columns: ['name', 'id'] }, { limit, after }), request.caller);
      return mapPage(
        pageOf(rows, limit, (r) => [r.name, r.id]),
        view,
      );
    },
  );

  app.get(
    '/v1/apps/:app',
    {
      config: owned('app'),
      schema: {
        operationId: 'getApp',
        tags: TAGS,
        summary: 'One app: its URLs, image, serving replicas and last deploy (with its log).',
        params: Params,
        querystring: OwnerQuery,
        response: { 200: Type.Ref('App'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => view(await appOf(request.caller, request.params.app, request.query.owner)),
  );

  app.patch(
    '/v1/apps/:app',
    {
      config: owned('app'),
      schema: {
        operationId: 'editApp',
        tags: TAGS,
        summary:
          'Change replicas, environment, secrets, the attached database or image: a new release, switched to once its replicas are ready (no downtime).',
        params: Params,
        querystring: OwnerQuery,
        body: refTo(AppEdit),
        response: { 202: Type.Ref('AppChange'), ...errorResponses(400, 401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const current = await appOf(request.caller, request.params.app, request.query.owner);
      const { replicas, env, unsetEnv, secrets, database, image } = request.body;
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const row = await forChange(trx, current.id);
        const template = loadAppTemplate(row.template);
        const spec = specOf(row).container;
        if (!spec) throw new InputError('body', `an app of the ${row.template} template runs no container`, 422);
        if (image && template.containerfile !== undefined)
          throw new InputError('body/image', `is built from your source by the ${row.template} template: deploy it`, 422);
        const nextEnv = { ...row.env, ...env };
        for (const key of unsetEnv ?? []) delete nextEnv[key];
        const next: AppRow = {
          ...row,
          replicas: replicas ?? row.replicas,
          env: nextEnv,
          secrets: secrets ?? row.secrets,
          database: database === undefined ? row.database : database,
        };
        await checkSecretUses(trx, row.owner_id, next.secrets, { ...spec.env, ...nextEnv });
        if (next.database) await checkAttachment(trx, row.owner_id, next.database, { ...spec.env, ...nextEnv });
        if (replicas !== undefined && replicas > row.replicas)
          await enforceLimit(
            trx,
            request.caller,
            'containers',
            trx('containers').where({ owner_id: row.owner_id }).whereNot({ app_id: row.id }),
            replicas,
          );
        await trx('apps')
          .where({ id: row.id })
          .update({
            replicas: next.replicas,
            env: JSON.stringify(nextEnv),
            secrets: JSON.stringify(next.secrets),
            database: next.database && JSON.stringify(next.database),
            updated_at: trx.fn.now(),
          });
        const runs = image ?? row.image;
        // Before the first deploy there is nothing to release: the change waits for it.
        return runs ? releaseJobs(trx, next, runs, image ? 'image' : 'change') : [];
      });
      return changed(reply, current.id, jobs);
    },
  );

  app.post(
    '/v1/apps/:app/deploy',
    {
      config: owned('app'),
      bodyLimit: CONTENT_JSON_BODY_LIMIT,
      schema: {
        operationId: 'deployApp',
        tags: TAGS,
        summary:
          "Deploy source: a tar.gz of the app's directory (application/gzip, or JSON {\"archive\": base64}). Templates that build make an image of it on the app's host and roll it out; `static` makes it the site's content.",
        description: CONTENT_LIMITS,
        params: Params,
        querystring: OwnerQuery,
        body: ContentUpload,
        response: { 202: Type.Ref('AppChange'), ...errorResponses(400, 401, 404, 408, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const current = await appOf(request.caller, request.params.app, request.query.owner);
      const site: WebsiteRow = await db('websites').where({ id: current.website_id }).first();
      const template = loadAppTemplate(current.template);
      const options = { db, outbox, log: request.log, caller: request.caller, site, body: request.body };
      if (!specOf(current).container) return changed(reply, current.id, await deployContent(options));
      if (template.containerfile === undefined)
        throw new InputError('body', `the ${current.template} template builds nothing: change the app's image instead`, 422);
      refuseWhileDeploying(current);
      const jobs = await receiveArchive({
        ...options,
        use: async (trx, temp, archive) => {
          const row = await forChange(trx, current.id);
          await placeFile(trx, temp, archive.sha256);
          return buildJob(trx, row, { sha256: archive.sha256, bytes: archive.bytes });
        },
      });
      return changed(reply, current.id, jobs);
    },
  );

  app.post(
    '/v1/apps/:app/rollback',
    {
      config: owned('app'),
      schema: {
        operationId: 'rollbackApp',
        tags: TAGS,
        summary: 'Run the image before the current one again: a new release of it, switched to once ready.',
        params: Params,
        querystring: OwnerQuery,
        response: { 202: Type.Ref('AppChange'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const current = await appOf(request.caller, request.params.app, request.query.owner);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const row = await forChange(trx, current.id);
        if (!row.previous_image) throw conflict(`${row.name} has no earlier image to return to`);
        return releaseJobs(trx, row, row.previous_image, 'rollback');
      });
      return changed(reply, current.id, jobs);
    },
  );

  app.post(
    '/v1/apps/:app/logs',
    {
      config: owned('app'),
      schema: {
        operationId: 'readAppLogs',
        tags: TAGS,
        summary: "Read the serving replicas' last log lines: one job per replica whose result holds its lines.",
        params: Params,
        querystring: OwnerQuery,
        body: Type.Object(
          {
            tail: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
            since: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false, examples: [{ tail: 100, since: '2026-12-06T10:00:00.000Z' }] },
        ),
        response: { 202: Type.Ref('AppJobs'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const row = await appOf(request.caller, request.params.app, request.query.owner);
      const replicas: ContainerRow[] = await db('containers').where({ app_id: row.id, service: row.name }).orderBy('name');
      const plans: JobPlan[] = [];
      for (const replica of replicas) {
        const read = await logsJob(db, replica, request.body);
        if (read) plans.push(read);
      }
      if (plans.length === 0) throw conflict(`${row.name} has no serving replica yet: deploy it first`);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async () => plans);
      return reply.code(202).send({ jobs: jobs.map((j) => jobView(j, request.caller)) });
    },
  );

  app.delete(
    '/v1/apps/:app',
    {
      config: owned('app'),
      schema: {
        operationId: 'deleteApp',
        tags: TAGS,
        summary: 'Delete an app: its replicas, its image builds and its website (names released now).',
        params: Params,
        querystring: OwnerQuery,
        response: { 202: Type.Ref('AppJobs'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const current = await appOf(request.caller, request.params.app, request.query.owner);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const row: AppRow | undefined = await trx('apps').where({ id: current.id }).forUpdate().first();
        if (!row) throw notFound('app');
        return appRemoval(trx, row);
      });
      return reply
        .code(202)
        .header('location', jobs[0] ? `/v1/jobs/${jobs[0].id}` : '/v1/apps')
        .send({ jobs: jobs.map((j) => jobView(j, request.caller)) });
    },
  );
};
