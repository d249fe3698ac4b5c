import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import type { JobRow } from '../jobs-store.ts';
import { claimConflicts, claimedNames, replaceClaims, siteKey, type StoredSpec, type WebsiteRow } from './store.ts';
import { getProxy, proxyMembers, upstreamPolicy, wildcardDomains, type ProxyGroupRow } from '../proxies/store.ts';
import { SITE_NAME, USER_NAME, isPublicSuffix, isUnderDomain } from '../../lib/validate/web.ts';
import { parseEndpoint, upstreamRefusal } from '../../lib/validate/upstream.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, conflict, notFound } from '../plugins/errors.ts';
import { enforceLimit } from '../plugins/limits.ts';
import { scopeToCaller } from '../plugins/scope.ts';
import { keyset, mapPage, pageOf } from '../pages.ts';
import { errorResponses, Page, pageQuery, refTo } from '../schemas.ts';
import { jobView, type Viewer } from '../views.ts';
import { DEFAULT_SPEC, mergeSpec } from './spec.ts';
import { applyJobs, ownerOfSite, siteRemoval } from './plans.ts';
import { checkContainerRoutes } from './container-upstreams.ts';
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

  /**
   * A site by name. Names are unique per owner: a user addresses only their own sites (another
   * user's name answers 404, as a name nobody has); an admin addresses anyone's and adds
   * `?owner=<user>` when several users have a site of that name (409 names them: admins see all).
   */
  async function siteOf(caller: Parameters<typeof scopeToCaller>[1], name: string, owner?: string): Promise<WebsiteRow> {
    const query = scopeToCaller(db('websites as w').join('users as u', 'u.id', 'w.owner_id').where('w.name', name), caller, 'w.owner_id');
    if (owner !== undefined) query.where('u.name', owner);
    const sites: (WebsiteRow & { owner_name: string })[] = await query.select('w.*', 'u.name as owner_name').orderBy('u.name');
    if (sites.length === 0) throw notFound('website');
    if (sites.length > 1)
      throw conflict(`several users have a website named ${name} (${sites.map((s) => s.owner_name).join(', ')}): add ?owner=<user>`);
    const { owner_name: _, ...site } = sites[0];
    return site;
  }

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

  /**
   * Names must be free, not a public suffix, clear of every proxy wildcard domain (under it:
   * temporary subdomains; above it: the provider's own domain), and neither under nor above
   * a name another user's site claims or a DNS zone another user hosts here. Refusals name only
   * the caller's own names, never what another user holds.
   */
  async function checkNames(trx: Knex, spec: StoredSpec, site: { id: string | null; owner_id: string }): Promise<string[]> {
    const names = claimedNames(spec);
    const suffixes = names.filter(isPublicSuffix);
    if (suffixes.length) throw conflict(`public suffixes cannot be claimed by a website: ${suffixes.join(', ')}`);
    const wildcards = await wildcardDomains(trx);
    const reserved = names.filter((n) => wildcards.some((w) => isUnderDomain(n, w) || isUnderDomain(w, n)));
    if (reserved.length) throw conflict(`names at, under or above a proxy's wildcard domain are reserved: ${reserved.join(', ')}`);
    const { taken, nested } = await claimConflicts(trx, names, site.owner_id, site.id);
    if (taken.length) throw conflict(`already claimed by another website: ${taken.join(', ')}`);
    if (nested.length) throw conflict(`under or above a name another user's website or DNS zone holds: ${nested.join(', ')}`);
    return names;
  }

  /**
   * Every route's upstream under the group's policy: 400 for routes in the body (422 for a
   * container that is not the owner's or a port it does not publish), 409 for stored ones the
   * policy no longer allows.
   */
  async function checkUpstreams(
    trx: Knex,
    group: ProxyGroupRow,
    site: { owner_id: string; tenant: string | null },
    spec: StoredSpec,
    routesInBody: boolean,
  ): Promise<void> {
    // FOR SHARE: an edit of the group's networks (FOR UPDATE) waits for this site, or this site for it.
    const current: ProxyGroupRow = await trx('proxy_groups').where({ id: group.id }).forShare().first();
    const policy = await upstreamPolicy(trx, current);
    spec.routes.forEach((route, i) => {
      if (typeof route.upstream !== 'string') return;
      const endpoint = parseEndpoint(route.upstream);
      const reason = typeof endpoint === 'string' ? endpoint : upstreamRefusal(endpoint, policy);
      if (!reason) return;
      if (routesInBody)
        throw new HttpError(400, 'bad_request', `body/routes/${i}/upstream ${reason}`, [`body/routes/${i}/upstream ${reason}`]);
      throw conflict(`the stored route ${route.path} (upstream ${route.upstream}) ${reason}: send new routes`);
    });
    await checkContainerRoutes(trx, site, spec, policy, routesInBody);
  }

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
      const { name, proxy: proxyName, ...fields } = request.body;
      const spec = await mergeSpec(DEFAULT_SPEC, fields);
      const proxy = await getProxy(db, proxyName);
      if (!proxy) throw new HttpError(404, 'not_found', 'proxy group not found');
      const owner = await ownerOfSite(db, request.caller.userId);
      const site: WebsiteRow = {
        id: randomUUID(),
        name,
        owner_id: request.caller.userId,
        proxy_group_id: proxy.id,
        temp_domain: `${siteKey(name, owner.name)}.${proxy.wildcard_domain}`,
        spec,
        generation: 1,
        tls: false,
        created_at: new Date(),
        updated_at: new Date(),
      };
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        await enforceLimit(trx, request.caller, 'websites', trx('websites').where({ owner_id: request.caller.userId }));
        if (await trx('websites').where({ owner_id: site.owner_id, name }).first('id'))
          throw conflict(`you already have a website named ${name}`);
        // Temporary subdomains are public: saying this one is taken tells nothing a request to it would not.
        if (await trx('websites').where({ temp_domain: site.temp_domain }).first('id'))
          throw conflict(`the temporary subdomain ${site.temp_domain} is taken: choose another name`);
        await checkUpstreams(trx, proxy, { owner_id: site.owner_id, tenant: owner.tenant }, spec, true);
        const names = await checkNames(trx, spec, { id: null, owner_id: site.owner_id });
        await trx('websites').insert({ ...site, spec: JSON.stringify(spec) });
        await replaceClaims(trx, site, names);
        const dnsJobs = await siteRecordJobs(trx, site, proxy);
        const members = await proxyMembers(trx, proxy.id);
        return [
          // The owner's Unix user first: the site's jobs wait for it on each member.
          ...(await tenantJobs(trx, [site.owner_id], members)),
          ...(await applyJobs(trx, proxy, members, site)),
          ...dnsJobs,
          ...(await siteCertificateJobs(trx, site)),
        ];
      });
      return changed(reply, await db('websites').where({ id: site.id }).first(), jobs);
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
