import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type, type Static } from 'typebox';
import { getHostByName, hostRefOf } from '../../lib/db/hosts.ts';
import { getProxy, layoutOf, proxyMembers, type MemberRow, type ProxyGroupRow, type WebsiteRow } from '../../lib/db/web.ts';
import { HOST_NAME_PATTERN } from '../../queues/host-ref.ts';
import { proxyApply } from '../../queues/ops/proxy.ts';
import { BASE_DIR, checkAddress, FieldError, PROXY_NAME, type ProxyCreate } from '../../lib/validate/web.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, conflict, notFound } from '../plugins/errors.ts';
import { errorResponses } from '../schemas.ts';
import { jobView } from '../views.ts';
import { applyJobs, deleteJobs, submitAll, type PlannedJob } from './web-jobs.ts';
import { groupCertificateJobs } from './web-certs.ts';
import { proxyView } from './web-views.ts';
import { proxyRecordJobs } from './web-dns.ts';

const NameParams = Type.Object({ name: Type.String({ pattern: PROXY_NAME }) });
const MemberParams = Type.Object({ name: Type.String({ pattern: PROXY_NAME }), host: Type.String({ pattern: HOST_NAME_PATTERN }) });
const admin = { access: 'admin' as const };

/** Every member gets the group's configuration at the new generation: members always converge together. */
export async function proxyJobs(trx: Knex, group: ProxyGroupRow, members: MemberRow[]): Promise<PlannedJob[]> {
  return Promise.all(
    members.map(async (host) => ({
      op: proxyApply,
      payload: { host: await hostRefOf(trx, host), layout: layoutOf(group, host), wildcardDomain: group.wildcard_domain, generation: group.generation },
      target: `proxy/${group.name}@${host.name}`,
      generation: group.generation,
    })),
  );
}

async function bumpGeneration(trx: Knex, group: ProxyGroupRow): Promise<ProxyGroupRow> {
  const [row] = await trx('proxy_groups').where({ id: group.id }).update({ generation: trx.raw('generation + 1'), updated_at: trx.fn.now() }).returning('*');
  return row;
}

export const proxyRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  const changed = async (reply: { code(n: number): { header(k: string, v: string): { send(b: unknown): unknown } } }, name: string, jobs: { id: string }[]) => {
    const group = (await getProxy(db, name))!;
    return reply
      .code(202)
      .header('location', `/v1/proxies/${name}`)
      .send({ proxy: proxyView(group, await proxyMembers(db, group.id)), jobs: (jobs as Parameters<typeof jobView>[0][]).map((j) => jobView(j)) });
  };

  app.post(
    '/v1/proxies',
    {
      config: admin,
      schema: {
        operationId: 'createProxy',
        tags: ['proxies'],
        summary: 'Create a proxy group: public addresses and a wildcard base domain; add member hosts next.',
        body: Type.Ref('ProxyCreate'),
        response: { 202: Type.Ref('ProxyChange'), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body as Static<typeof ProxyCreate>;
      let addresses: string[];
      try {
        addresses = body.addresses.map((a, i) => checkAddress(a, `body/addresses/${i}`));
      } catch (error) {
        throw error instanceof FieldError ? new HttpError(400, 'bad_request', error.message) : error;
      }
      const jobs = await submitAll(db, outbox, request.caller, async (trx) => {
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
        });
        return proxyRecordJobs(trx, (await getProxy(trx, body.name))!);
      });
      return changed(reply, body.name, jobs);
    },
  );

  app.get(
    '/v1/proxies',
    { config: admin, schema: { operationId: 'listProxies', tags: ['proxies'], summary: 'Proxy groups and their members.', response: { 200: Type.Array(Type.Ref('Proxy')), ...errorResponses(401, 403) } } },
    async () => {
      const groups: ProxyGroupRow[] = await db('proxy_groups').orderBy('name');
      return Promise.all(groups.map(async (g) => proxyView(g, await proxyMembers(db, g.id))));
    },
  );

  app.get(
    '/v1/proxies/:name',
    { config: admin, schema: { operationId: 'getProxy', tags: ['proxies'], summary: 'One proxy group, with the generation each member applied.', params: NameParams, response: { 200: Type.Ref('Proxy'), ...errorResponses(401, 403, 404) } } },
    async (request) => {
      const group = await getProxy(db, request.params.name);
      if (!group) throw notFound('proxy group');
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
        summary: "Add a host (role proxy) to a group: every member converges to the group's next generation and the new one gets every site.",
        params: NameParams,
        body: Type.Object(
          {
            host: Type.String({ pattern: HOST_NAME_PATTERN }),
            baseDir: Type.Optional(Type.String({ pattern: BASE_DIR, maxLength: 256, description: "this member's nginx directory, if not the group's" })),
          },
          { additionalProperties: false },
        ),
        response: { 202: Type.Ref('ProxyChange'), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const jobs = await submitAll(db, outbox, request.caller, async (trx) => {
        const group = await getProxy(trx, request.params.name);
        if (!group) throw notFound('proxy group');
        const host = await getHostByName(trx, request.body.host);
        if (!host) throw notFound('host');
        if (!host.roles.includes('proxy')) throw conflict(`host ${host.name} does not have the proxy role`);
        if (await trx('proxy_members').where({ group_id: group.id, host_id: host.id }).first()) throw conflict(`${host.name} is already a member`);
        await trx('proxy_members').insert({ group_id: group.id, host_id: host.id, base_dir: request.body.baseDir ?? null });
        const next = await bumpGeneration(trx, group);
        const members = await proxyMembers(trx, group.id);
        const planned = await proxyJobs(trx, next, members);
        const joined = members.filter((m) => m.id === host.id);
        const sites: WebsiteRow[] = await trx('websites').where({ proxy_group_id: group.id });
        for (const site of sites) planned.push(...(await applyJobs(trx, next, joined, site, site.name)));
        planned.push(...(await groupCertificateJobs(trx, next)));
        return planned;
      });
      return changed(reply, request.params.name, jobs);
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
      const jobs = await submitAll(db, outbox, request.caller, async (trx) => {
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
          for (const site of sites) planned.push(...(await applyJobs(trx, next, remaining, site, site.name)));
        }
        return planned;
      });
      return changed(reply, request.params.name, jobs);
    },
  );
};
