import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import { getHostByName, hostRefOf } from '../hosts/store.ts';
import type { WebsiteRow } from '../websites/store.ts';
import { getProxy, layoutOf, proxyMembers, upstreamPolicy, type MemberRow, type ProxyGroupRow } from './store.ts';
import { HOST_NAME_PATTERN } from '../../queues/host-ref.ts';
import { proxyApply } from '../../queues/proxies/ops.ts';
import { BASE_DIR, checkAddress, normalizeNetwork, PROXY_NAME, ProxyCreate, ProxyEdit } from '../../lib/validate/web.ts';
import { parseEndpoint, upstreamRefusal } from '../../lib/validate/upstream.ts';
import { publishedEndpoint } from '../../lib/validate/upstream.ts';
import { containerAllocation, namedContainers } from '../websites/container-upstreams.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, conflict, notFound } from '../plugins/errors.ts';
import { keyset, mapPage, pageOf } from '../pages.ts';
import { errorResponses, JOB_EXAMPLE, Page, pageQuery, refTo } from '../schemas.ts';
import { jobView, type Viewer } from '../views.ts';
import { applyJobs, deleteJobs, memberSiteJobs } from '../websites/plans.ts';
import { groupCertificateJobs, wildcardCertificateJobs, wildcardRefusal } from '../certificates/plans.ts';
import { certificateView, type CertificateViewRow } from '../certificates/views.ts';
import { getJob } from '../jobs-store.ts';
import { ProxyView, proxyView } from '../websites/views.ts';
import { proxyRecordJobs, removeProxyRecordJobs } from '../dns/managed.ts';
import { plan, requesterOf, type JobPlan } from '../plan.ts';
import type { PayloadOf } from '../../queues/operation.ts';

const NameParams = Type.Object({ name: Type.String({ pattern: PROXY_NAME }) });
const MemberParams = Type.Object({ name: Type.String({ pattern: PROXY_NAME }), host: Type.String({ pattern: HOST_NAME_PATTERN }) });
const admin = { access: 'admin' as const };

/** Every member gets the group's configuration at the new generation: members always converge together. */
export async function proxyJobs(trx: Knex, group: ProxyGroupRow, members: MemberRow[]): Promise<JobPlan[]> {
  return Promise.all(members.map(async (host) => plan({ op: proxyApply, ...(await proxyApplyOn(trx, group, host)) })));
}

/** What a proxy.apply on one member carries (also what its repair carries). */
export async function proxyApplyOn(db: Knex, group: ProxyGroupRow, host: MemberRow) {
  const payload: PayloadOf<typeof proxyApply> = {
    host: await hostRefOf(db, host),
    layout: layoutOf(group, host),
    wildcardDomain: group.wildcard_domain,
    generation: group.generation,
  };
  return { payload, target: `proxy/${group.name}@${host.name}`, generation: group.generation };
}

/** Canonical, deduplicated CIDRs (InputError naming the entry); null stays null: unrestricted. */
function upstreamNetworksOf(raw: string[] | null | undefined): string[] | null {
  if (!raw) return null;
  return [...new Set(raw.map((n, i) => normalizeNetwork(n, `body/upstreamNetworks/${i}`)))];
}

/** Whether the job has not ended yet. */
async function pendingJob(db: Knex, id: string): Promise<boolean> {
  const job = await getJob(db, id);
  return job !== undefined && ['accepted', 'queued', 'running', 'retrying'].includes(job.status);
}

/** The group's wildcard certificate as the API shows it. */
async function certificateRow(db: Knex, groupId: string): Promise<CertificateViewRow> {
  return db('certificates as c')
    .join('proxy_groups as p', 'p.id', 'c.proxy_group_id')
    .where({ 'c.proxy_group_id': groupId, 'c.kind': 'wildcard' })
    .first('c.*', db.raw('null as website_name'), 'p.name as proxy_name', db.raw('null as host_name'));
}

async function bumpGeneration(trx: Knex, group: ProxyGroupRow): Promise<ProxyGroupRow> {
  const [row] = await trx('proxy_groups')
    .where({ id: group.id })
    .update({ generation: trx.raw('generation + 1'), updated_at: trx.fn.now() })
    .returning('*');
  return row;
}

export const proxyRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  const changed = async (
    reply: { request: { caller: Viewer }; code(n: number): { header(k: string, v: string): { send(b: unknown): unknown } } },
    name: string,
    jobs: { id: string }[],
  ) => {
    const group = (await getProxy(db, name))!;
    return reply
      .code(202)
      .header('location', `/v1/proxies/${name}`)
      .send({
        proxy: proxyView(group, await proxyMembers(db, group.id)),
        jobs: (jobs as Parameters<typeof jobView>[0][]).map((j) => jobView(j, reply.request.caller)),
      });
  };

  app.post(
    '/v1/proxies',
    {
      config: admin,
      schema: {
        operationId: 'createProxy',
        tags: ['proxies'],
        summary: 'Create a proxy group: public addresses and a wildcard base domain; add member hosts next.',
        body: refTo(ProxyCreate),
        response: { 202: Type.Ref('ProxyChange'), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const addresses = body.addresses.map((a, i) => checkAddress(a, `body/addresses/${i}`));
      const networks = upstreamNetworksOf(body.upstreamNetworks);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        if (await trx('proxy_groups').where({ name: body.name }).orWhere({ wildcard_domain: body.wildcardDomain }).first('id')) {
          throw conflict('a proxy group with this name or wildcard domain exists');
        }
        await trx('proxy_groups').insert({
          id: randomUUID(),
          name: body.name,
          wildcard_domain: body.wildcardDomain,
          addresses: JSON.stringify(addresses),
          base_dir: body.baseDir ?? '/srv/up/nginx',
          http_port: body.httpPort ?? 80,
          https_port: body.httpsPort ?? 443,
          nginx_user: body.nginxUser ?? 'www-data',
          upstream_networks: networks === null ? null : JSON.stringify(networks),
        });
        return proxyRecordJobs(trx, (await getProxy(trx, body.name))!);
      });
      return changed(reply, body.name, jobs);
    },
  );

  app.get(
    '/v1/proxies',
    {
      config: admin,
      schema: {
        operationId: 'listProxies',
        tags: ['proxies'],
        summary: 'Proxy groups by name, and their members.',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(ProxyView), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const groups: ProxyGroupRow[] = await keyset(db('proxy_groups'), { columns: ['name'] }, { limit, after });
      return mapPage(
        pageOf(groups, limit, (g) => [g.name]),
        async (g) => proxyView(g, await proxyMembers(db, g.id)),
      );
    },
  );

  app.get(
    '/v1/proxies/:name',
    {
      config: admin,
      schema: {
        operationId: 'getProxy',
        tags: ['proxies'],
        summary: 'One proxy group, with the generation each member applied.',
        params: NameParams,
        response: { 200: Type.Ref('Proxy'), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const group = await getProxy(db, request.params.name);
      if (!group) throw notFound('proxy group');
      return proxyView(group, await proxyMembers(db, group.id));
    },
  );

  app.patch(
    '/v1/proxies/:name',
    {
      config: admin,
      schema: {
        operationId: 'editProxy',
        tags: ['proxies'],
        summary:
          "Change a proxy group's upstream networks. Refused (409, listing them) while any of its websites has an upstream outside the new networks: " +
          'those sites change first, so no site is left breaking the rule.',
        params: NameParams,
        body: refTo(ProxyEdit),
        response: { 200: Type.Ref('Proxy'), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const networks = upstreamNetworksOf(request.body.upstreamNetworks);
      const group = await db.transaction(async (trx) => {
        // The row lock orders this edit with website writes that read the group's networks.
        const current: ProxyGroupRow | undefined = await trx('proxy_groups').where({ name: request.params.name }).forUpdate().first();
        if (!current) throw notFound('proxy group');
        const next = { ...current, upstream_networks: networks };
        const policy = await upstreamPolicy(trx, next);
        const sites: (WebsiteRow & { owner_name: string })[] = await trx('websites as w')
          .join('users as u', 'u.id', 'w.owner_id')
          .where('w.proxy_group_id', current.id)
          .orderBy(['u.name', 'w.name'])
          .select('w.*', 'u.name as owner_name');
        const outside: string[] = [];
        for (const site of sites) {
          // Container routes are checked at what they resolve to now: their endpoints are not stored.
          const allocation = await containerAllocation(trx, site.owner_id, namedContainers(site.spec));
          for (const route of site.spec.routes) {
            const { upstream } = route;
            const endpoints =
              typeof upstream === 'string'
                ? [{ text: upstream, published: false }]
                : (allocation.find((c) => c.name === upstream.container)?.ports ?? [])
                    .filter((p) => p.container === upstream.port)
                    .map((p) => ({
                      text: publishedEndpoint(p),
                      published: true,
                    }));
            for (const { text, published } of endpoints) {
              const endpoint = parseEndpoint(text);
              const reason = typeof endpoint === 'string' ? endpoint : upstreamRefusal(endpoint, policy, published);
              if (reason) outside.push(`${site.owner_name}/${site.name} ${route.path} → ${text}`);
            }
          }
        }
        if (outside.length) {
          throw new HttpError(
            409,
            'conflict',
            `${outside.length} website route(s) of ${current.name} would break the new upstream networks; change them first`,
            outside.slice(0, 100),
          );
        }
        await trx('proxy_groups')
          .where({ id: current.id })
          .update({ upstream_networks: networks === null ? null : JSON.stringify(networks), updated_at: trx.fn.now() });
        return (await getProxy(trx, current.name))!;
      });
      return proxyView(group, await proxyMembers(db, group.id));
    },
  );

  app.post(
    '/v1/proxies/:name/hosts',
    {
      config: admin,
      schema: {
        operationId: 'addProxyHost',
        tags: ['proxies'],
        summary:
          "Add a host (role proxy) to a group: every member converges to the group's next generation and the new one gets every site.",
        params: NameParams,
        body: Type.Object(
          {
            host: Type.String({ pattern: HOST_NAME_PATTERN }),
            baseDir: Type.Optional(
              Type.String({ pattern: BASE_DIR, maxLength: 256, description: "this member's nginx directory, if not the group's" }),
            ),
          },
          { additionalProperties: false, examples: [{ host: 'web1' }] },
        ),
        response: { 202: Type.Ref('ProxyChange'), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const group = await getProxy(trx, request.params.name);
        if (!group) throw notFound('proxy group');
        const host = await getHostByName(trx, request.body.host);
        if (!host) throw notFound('host');
        if (!host.roles.includes('proxy')) throw conflict(`host ${host.name} does not have the proxy role`);
        if (await trx('proxy_members').where({ group_id: group.id, host_id: host.id }).first())
          throw conflict(`${host.name} is already a member`);
        await trx('proxy_members').insert({ group_id: group.id, host_id: host.id, base_dir: request.body.baseDir ?? null });
        const next = await bumpGeneration(trx, group);
        const members = await proxyMembers(trx, group.id);
        const planned = await proxyJobs(trx, next, members);
        const joined = members.filter((m) => m.id === host.id);
        // The new member gets every site: its owner's Unix user, its vhost and its current content.
        const sites: WebsiteRow[] = await trx('websites').where({ proxy_group_id: group.id }).orderBy('temp_domain');
        planned.push(...(await memberSiteJobs(trx, next, joined, sites)));
        planned.push(...(await groupCertificateJobs(trx, next)));
        return planned;
      });
      return changed(reply, request.params.name, jobs);
    },
  );

  app.post(
    '/v1/proxies/:name/certificate',
    {
      config: admin,
      schema: {
        operationId: 'issueProxyCertificate',
        tags: ['proxies'],
        summary:
          "Ask for the group's wildcard certificate (*.<wildcard> and the name itself, DNS-01) if it has none. Idempotent: " +
          '200 with the certificate and its last job when it is valid, 202 with the job that issues it (the pending one, if any). ' +
          'Needs a member and an active zone hosted here that holds the wildcard domain (409 otherwise). Also done on its own within 30 s of the zone becoming active.',
        params: NameParams,
        response: { 200: Type.Ref('CertificateRenewal'), 202: Type.Ref('CertificateRenewal'), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const group = await getProxy(db, request.params.name);
      if (!group) throw notFound('proxy group');
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        // The group's row orders this with the scheduler's own look for missing wildcards.
        await trx('proxy_groups').where({ id: group.id }).forUpdate().first('id');
        const current: { status: string; last_job_id: string | null } | undefined = await trx('certificates')
          .where({ proxy_group_id: group.id, kind: 'wildcard' })
          .first('id', 'status', 'last_job_id');
        if (current?.last_job_id && (current.status === 'valid' || (await pendingJob(trx, current.last_job_id)))) return [];
        const refusal = await wildcardRefusal(trx, group);
        if (refusal) throw conflict(refusal);
        return wildcardCertificateJobs(trx, group);
      });
      const cert = await certificateRow(db, group.id);
      const job = jobs[0] ?? (await getJob(db, cert.last_job_id!))!;
      return reply
        .code(cert.status === 'valid' && !jobs[0] ? 200 : 202)
        .header('location', `/v1/jobs/${job.id}`)
        .send({ certificate: certificateView(cert), job: jobView(job, request.caller) });
    },
  );

  app.delete(
    '/v1/proxies/:name/hosts/:host',
    {
      config: admin,
      schema: {
        operationId: 'removeProxyHost',
        tags: ['proxies'],
        summary: "Remove a member: its sites' vhosts are removed from it, the remaining members converge to the next generation.",
        params: MemberParams,
        response: { 202: Type.Ref('ProxyChange'), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const group = await getProxy(trx, request.params.name);
        const host = await getHostByName(trx, request.params.host);
        const leaving = group && host ? (await proxyMembers(trx, group.id)).filter((m) => m.id === host.id) : [];
        if (!group || !host || leaving.length === 0) throw notFound('proxy group member');
        await trx('proxy_members').where({ group_id: group.id, host_id: host.id }).delete();
        const next = await bumpGeneration(trx, group);
        const planned = await proxyJobs(trx, next, await proxyMembers(trx, group.id));
        const sites: WebsiteRow[] = await trx('websites').where({ proxy_group_id: group.id });
        for (const site of sites) planned.push(...(await deleteJobs(trx, next, leaving, site)));
        // The certbot host left: the others' vhosts now pass ACME requests to the next member.
        if (leaving[0].acme_issuer === null) {
          const remaining = await proxyMembers(trx, group.id);
          for (const site of sites) planned.push(...(await applyJobs(trx, next, remaining, site)));
        }
        return planned;
      });
      return changed(reply, request.params.name, jobs);
    },
  );

  app.delete(
    '/v1/proxies/:name',
    {
      config: admin,
      schema: {
        operationId: 'deleteProxy',
        tags: ['proxies'],
        summary:
          'Delete a proxy group that serves no website and has no member: its wildcard certificate and DNS records go with it (409 names what is left).',
        params: NameParams,
        response: {
          202: Type.Object(
            { jobs: Type.Array(Type.Ref('Job'), { description: "the DNS jobs that remove the group's wildcard records" }) },
            {
              examples: [{ jobs: [{ ...JOB_EXAMPLE, op: 'dns.records.apply', target: 'example.net', payload: { zone: 'example.net' } }] }],
            },
          ),
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const group: ProxyGroupRow | undefined = await trx('proxy_groups').where({ name: request.params.name }).forUpdate().first();
        if (!group) throw notFound(`proxy group ${request.params.name}`);
        const sites: { name: string }[] = await trx('websites').where({ proxy_group_id: group.id }).orderBy('name').select('name');
        if (sites.length)
          throw conflict(
            `proxy group ${group.name} still serves ${sites.length} website(s) (${sites
              .slice(0, 5)
              .map((s) => s.name)
              .join(', ')}${sites.length > 5 ? ', …' : ''}): delete them first`,
          );
        const members = await proxyMembers(trx, group.id);
        if (members.length)
          throw conflict(
            `proxy group ${group.name} still has members (${members.map((m) => m.name).join(', ')}): remove them first (up proxies hosts remove)`,
          );
        const planned = await removeProxyRecordJobs(trx, group);
        // Its wildcard certificate row cascades; no member holds its files any more.
        await trx('proxy_groups').where({ id: group.id }).delete();
        return planned;
      });
      return reply.code(202).send({ jobs: jobs.map((j) => jobView(j, request.caller)) });
    },
  );
};
