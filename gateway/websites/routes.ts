import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { JobRow } from '../jobs-store.ts';
import { replaceClaims, type WebsiteRow } from './store.ts';
import { proxyMembers, type ProxyGroupRow } from '../proxies/store.ts';
import { SITE_NAME, USER_NAME } from '../../lib/validate/web.ts';
import type { GatewayContext } from '../context.ts';
import { ownedByName, scopeToCaller } from '../plugins/scope.ts';
import type { Caller } from '../plugins/auth.ts';
import { keyset, mapPage, pageOf } from '../pages.ts';
import { errorResponses, Page, pageQuery, refTo } from '../schemas.ts';
import { jobView, type Viewer } from '../views.ts';
import { mergeSpec } from './spec.ts';
import { applyJobs, ownerOfSite, siteRemoval } from './plans.ts';
import { checkNames, checkUpstreams, planWebsiteCreate } from './changes.ts';
import { CONTENT_JSON_BODY_LIMIT, CONTENT_LIMITS, ContentUpload, acceptArchiveStreams, deployContent } from './content.ts';
import { siteRecordJobs } from '../dns/managed.ts';
import { WebsiteView, websiteView } from './views.ts';
import { WebsiteCreate, WebsiteEdit } from '../../lib/validate/web.ts';
import { siteCertificateJobs } from '../certificates/plans.ts';
import { requesterOf } from '../plan.ts';
import { tenantJobs } from '../users/plans.ts';

const SiteParams = Type.Object({ site: Type.String({ pattern: SITE_NAME }) });
/** Site names are unique per owner; only an admin ever needs to say whose. */
const OwnerQuery = Type.Object(
  {
    owner: Type.Optional(
      Type.String({
        pattern: USER_NAME,
        description:
          "admins: the site's owner, needed when several users have a site of this name (409 otherwise). Users address only their own sites: any other owner is 404",
      }),
    ),
  },
  { additionalProperties: false },
);
const owned = (idParam?: string) => ({ owned: { kind: 'websites', table: 'websites', idColumn: 'name', ...(idParam ? { idParam } : {}) } });

export const websiteRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  acceptArchiveStreams(app);

  /** A site by name, as the caller may address it (ownedByName). */
  const siteOf = (caller: Caller, name: string, owner?: string) => ownedByName<WebsiteRow>(db, 'websites', 'website', caller, name, owner);

  async function view(site: WebsiteRow) {
    const proxy: ProxyGroupRow = await db('proxy_groups').where({ id: site.proxy_group_id }).first();
    const hosts = await db('website_hosts').where({ website_id: site.id }).orderBy('host');
    return websiteView(site, { owner: (await ownerOfSite(db, site.owner_id)).name, proxy, hosts });
  }

  const changed = async (
    reply: { request: { caller: Viewer }; code(n: number): { header(k: string, v: string): { send(b: unknown): unknown } } },
    site: WebsiteRow,
    jobs: JobRow[],
  ) =>
    reply
      .code(202)
      .header('location', jobs[0] ? `/v1/jobs/${jobs[0].id}` : `/v1/websites/${site.name}`)
      .send({ website: await view(site), jobs: jobs.map((j) => jobView(j, reply.request.caller)) });

  app.post(
    '/v1/websites',
    {
      config: owned(),
      schema: {
        operationId: 'createWebsite',
        tags: ['websites'],
        summary: 'Create a website on a proxy group; it answers at once at its temporary subdomain.',
        body: refTo(WebsiteCreate),
        response: { 202: Type.Ref('WebsiteChange'), ...errorResponses(400, 401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      let created: WebsiteRow | undefined;
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const { site, plans } = await planWebsiteCreate(trx, request.caller, request.body);
        created = site;
        return plans;
      });
      return changed(reply, await db('websites').where({ id: created!.id }).first(), jobs);
    },
  );

  app.get(
    '/v1/websites',
    {
      config: owned(),
      schema: {
        operationId: 'listWebsites',
        tags: ['websites'],
        summary: 'Websites you own by name (admins: all).',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(WebsiteView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const sites: WebsiteRow[] = await scopeToCaller(
        keyset(db('websites'), { columns: ['name', 'id'] }, { limit, after }),
        request.caller,
      );
      return mapPage(
        pageOf(sites, limit, (s) => [s.name, s.id]),
        view,
      );
    },
  );

  app.get(
    '/v1/websites/:site',
    {
      config: owned('site'),
      schema: {
        operationId: 'getWebsite',
        tags: ['websites'],
        summary: 'One website, with the generation each proxy host applied.',
        params: SiteParams,
        querystring: OwnerQuery,
        response: { 200: Type.Ref('Website'), ...errorResponses(401, 404, 409) },
      },
    },
    async (request) => view(await siteOf(request.caller, request.params.site, request.query.owner)),
  );

  app.patch(
    '/v1/websites/:site',
    {
      config: owned('site'),
      schema: {
        operationId: 'editWebsite',
        tags: ['websites'],
        summary: 'Change a website: the fields given replace the stored ones; every member host converges to the new generation.',
        params: SiteParams,
        querystring: OwnerQuery,
        body: refTo(WebsiteEdit),
        response: { 202: Type.Ref('WebsiteChange'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const current = await siteOf(request.caller, request.params.site, request.query.owner);
      const edit = request.body;
      const spec = await mergeSpec(current.spec, edit);
      let updated = current;
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const group: ProxyGroupRow = await trx('proxy_groups').where({ id: current.proxy_group_id }).first();
        const owner = await ownerOfSite(trx, current.owner_id);
        await checkUpstreams(trx, group, { owner_id: current.owner_id, tenant: owner.tenant }, spec, edit.routes !== undefined);
        const names = await checkNames(trx, spec, current);
        const [row]: WebsiteRow[] = await trx('websites')
          .where({ id: current.id })
          .update({ spec: JSON.stringify(spec), generation: trx.raw('generation + 1'), updated_at: trx.fn.now() })
          .returning('*');
        updated = row;
        await replaceClaims(trx, row, names);
        const proxy: ProxyGroupRow = await trx('proxy_groups').where({ id: row.proxy_group_id }).first();
        const members = await proxyMembers(trx, proxy.id);
        return [
          ...(await tenantJobs(trx, [row.owner_id], members)),
          ...(await applyJobs(trx, proxy, members, row)),
          ...(await siteRecordJobs(trx, row, proxy)),
          ...(await siteCertificateJobs(trx, row)),
        ];
      });
      return changed(reply, updated, jobs);
    },
  );

  app.delete(
    '/v1/websites/:site',
    {
      config: owned('site'),
      schema: {
        operationId: 'deleteWebsite',
        tags: ['websites'],
        summary: 'Delete a website: its names are released now, and every member host removes the vhost and the document root.',
        params: SiteParams,
        querystring: OwnerQuery,
        response: { 202: Type.Ref('WebsiteChange'), ...errorResponses(401, 404, 409) },
      },
    },
    async (request, reply) => {
      const current = await siteOf(request.caller, request.params.site, request.query.owner);
      const shown = await view(current);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), (trx) => siteRemoval(trx, current));
      return reply
        .code(202)
        .header('location', jobs[0] ? `/v1/jobs/${jobs[0].id}` : '/v1/websites')
        .send({ website: shown, jobs: jobs.map((j) => jobView(j, request.caller)) });
    },
  );

  app.post(
    '/v1/websites/:site/content',
    {
      config: owned('site'),
      bodyLimit: CONTENT_JSON_BODY_LIMIT,
      schema: {
        operationId: 'deployWebsiteContent',
        tags: ['websites'],
        summary:
          'Replace the document root on every member host with a tar.gz of files and directories: application/gzip, or JSON {"archive": base64}.',
        description: CONTENT_LIMITS,
        params: SiteParams,
        body: ContentUpload,
        response: { 202: Type.Ref('WebsiteChange'), ...errorResponses(400, 401, 404, 408, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const site = await siteOf(request.caller, request.params.site);
      return changed(reply, site, await deployContent({ db, outbox, log: request.log, caller: request.caller, site, body: request.body }));
    },
  );
};
