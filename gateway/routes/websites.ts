import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import type { JobRow } from '../../lib/db/jobs.ts';
import {
  claimedNames,
  conflictingClaims,
  contentStoreDir,
  getProxy,
  layoutOf,
  proxyMembers,
  replaceClaims,
  siteKey,
  wildcardDomains,
  type ProxyGroupRow,
  type StoredSpec,
  type WebsiteRow,
} from '../../lib/db/web.ts';
import { FieldError, SITE_NAME, isUnderDomain } from '../../lib/validate/web.ts';
import { inspectArchive, MAX_ARCHIVE_BYTES } from '../../lib/validate/web-archive.ts';
import { websiteDeploy } from '../../queues/ops/website.ts';
import { hostRefOf } from '../../lib/db/hosts.ts';
import { registerOwnedKind } from '../../lib/db/users.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, conflict, notFound } from '../plugins/errors.ts';
import { enforceLimit } from '../plugins/limits.ts';
import { scopeToCaller } from '../plugins/scope.ts';
import { errorResponses } from '../schemas.ts';
import { jobView } from '../views.ts';
import { DEFAULT_SPEC, mergeSpec } from './web-payloads.ts';
import { applyJobs, deleteJobs, keyOf, ownerOfSite, submitAll, type PlannedJob } from './web-jobs.ts';
import { removeSiteRecordJobs, siteRecordJobs } from './web-dns.ts';
import { websiteView } from './web-views.ts';
import { siteCertificateJobs } from './web-certs.ts';

const SiteParams = Type.Object({ site: Type.String({ pattern: SITE_NAME }) });
const owned = (idParam?: string) => ({ owned: { kind: 'websites', table: 'websites', idColumn: 'name', ...(idParam ? { idParam } : {}) } });

/**
 * Deleting a site: its names are released and its row goes now (its records and certificate
 * rows with it); every member host removes the vhost, document root and certificate files.
 */
async function siteRemoval(trx: Knex.Transaction, site: WebsiteRow): Promise<PlannedJob[]> {
  const dnsJobs = await removeSiteRecordJobs(trx, site);
  await trx('websites').where({ id: site.id }).delete();
  const proxy: ProxyGroupRow = await trx('proxy_groups').where({ id: site.proxy_group_id }).first();
  return [...(await deleteJobs(trx, proxy, await proxyMembers(trx, proxy.id), { ...site, generation: site.generation + 1 })), ...dnsJobs];
}

// Deleting a user deletes their sites the way DELETE /v1/websites/:site does.
registerOwnedKind({ kind: 'websites', table: 'websites', planRemoval: (trx, row) => siteRemoval(trx, row as unknown as WebsiteRow) });

export const websiteRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  app.addContentTypeParser(['application/gzip', 'application/x-gzip'], { parseAs: 'buffer', bodyLimit: MAX_ARCHIVE_BYTES }, (_req, body, done) =>
    done(null, body),
  );

  /** The caller's site by name (the scope plugin already answered 404 for others' sites). */
  async function siteOf(caller: Parameters<typeof scopeToCaller>[1], name: string): Promise<WebsiteRow> {
    const site: WebsiteRow | undefined = await scopeToCaller(db('websites').where({ name }), caller).first();
    if (!site) throw notFound('website');
    return site;
  }

  async function view(site: WebsiteRow) {
    const proxy: ProxyGroupRow = await db('proxy_groups').where({ id: site.proxy_group_id }).first();
    const hosts = await db('website_hosts').where({ website_id: site.id }).orderBy('host');
    return websiteView(site, { owner: (await ownerOfSite(db, site.owner_id)).name, proxy, hosts });
  }

  const changed = async (reply: { code(n: number): { header(k: string, v: string): { send(b: unknown): unknown } } }, site: WebsiteRow, jobs: JobRow[]) =>
    reply
      .code(202)
      .header('location', jobs[0] ? `/v1/jobs/${jobs[0].id}` : `/v1/websites/${site.name}`)
      .send({ website: await view(site), jobs: jobs.map((j) => jobView(j)) });

  /** Names must be free, outside every wildcard domain, and not someone else's. */
  async function checkNames(trx: Knex, spec: StoredSpec, siteId: string | null): Promise<string[]> {
    const names = claimedNames(spec);
    const wildcards = await wildcardDomains(trx);
    const reserved = names.filter((n) => wildcards.some((w) => isUnderDomain(n, w)));
    if (reserved.length) throw conflict(`names under a proxy's wildcard domain are reserved for temporary subdomains: ${reserved.join(', ')}`);
    const taken = await conflictingClaims(trx, names, siteId);
    if (taken.length) throw conflict(`already claimed by another website: ${taken.join(', ')}`);
    return names;
  }

  app.post(
    '/v1/websites',
    {
      config: owned(),
      schema: {
        operationId: 'createWebsite',
        tags: ['websites'],
        summary: 'Create a website on a proxy group; it answers at once at its temporary subdomain.',
        body: Type.Ref('WebsiteCreate'),
        response: { 202: Type.Ref('WebsiteChange'), ...errorResponses(400, 401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const body = request.body as { name: string; proxy: string } & Parameters<typeof mergeSpec>[1];
      const { name, proxy: proxyName, ...fields } = body;
      const spec = mergeSpec(DEFAULT_SPEC, fields);
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
      const jobs = await submitAll(db, outbox, request.caller, async (trx) => {
        await enforceLimit(trx, request.caller, 'websites', trx('websites').where({ owner_id: request.caller.userId }));
        if (await trx('websites').where({ name }).first('id')) throw conflict(`a website named ${name} exists`);
        const names = await checkNames(trx, spec, null);
        await trx('websites').insert({ ...site, spec: JSON.stringify(spec) });
        await replaceClaims(trx, site, names);
        const dnsJobs = await siteRecordJobs(trx, site, proxy);
        return [...(await applyJobs(trx, proxy, await proxyMembers(trx, proxy.id), site, name)), ...dnsJobs, ...(await siteCertificateJobs(trx, site))];
      });
      return changed(reply, (await siteOf(request.caller, name))!, jobs);
    },
  );

  app.get(
    '/v1/websites',
    {
      config: owned(),
      schema: { operationId: 'listWebsites', tags: ['websites'], summary: 'Websites you own (admins: all).', response: { 200: Type.Array(Type.Ref('Website')), ...errorResponses(401) } },
    },
    async (request) => {
      const sites: WebsiteRow[] = await scopeToCaller(db('websites').orderBy('name'), request.caller);
      return Promise.all(sites.map(view));
    },
  );

  app.get(
    '/v1/websites/:site',
    {
      config: owned('site'),
      schema: { operationId: 'getWebsite', tags: ['websites'], summary: 'One website, with the generation each proxy host applied.', params: SiteParams, response: { 200: Type.Ref('Website'), ...errorResponses(401, 404) } },
    },
    async (request) => view(await siteOf(request.caller, request.params.site)),
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
        body: Type.Ref('WebsiteEdit'),
        response: { 202: Type.Ref('WebsiteChange'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const current = await siteOf(request.caller, request.params.site);
      const spec = mergeSpec(current.spec, request.body as Parameters<typeof mergeSpec>[1]);
      let updated = current;
      const jobs = await submitAll(db, outbox, request.caller, async (trx) => {
        const names = await checkNames(trx, spec, current.id);
        const [row]: WebsiteRow[] = await trx('websites')
          .where({ id: current.id })
          .update({ spec: JSON.stringify(spec), generation: trx.raw('generation + 1'), updated_at: trx.fn.now() })
          .returning('*');
        updated = row;
        await replaceClaims(trx, row, names);
        const proxy: ProxyGroupRow = await trx('proxy_groups').where({ id: row.proxy_group_id }).first();
        return [...(await applyJobs(trx, proxy, await proxyMembers(trx, proxy.id), row, row.name)), ...(await siteRecordJobs(trx, row, proxy)), ...(await siteCertificateJobs(trx, row))];
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
        response: { 202: Type.Ref('WebsiteChange'), ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => {
      const current = await siteOf(request.caller, request.params.site);
      const shown = await view(current);
      const jobs = await submitAll(db, outbox, request.caller, (trx) => siteRemoval(trx, current));
      return reply
        .code(202)
        .header('location', jobs[0] ? `/v1/jobs/${jobs[0].id}` : '/v1/websites')
        .send({ website: shown, jobs: jobs.map((j) => jobView(j)) });
    },
  );

  app.post(
    '/v1/websites/:site/content',
    {
      config: owned('site'),
      bodyLimit: Math.ceil((MAX_ARCHIVE_BYTES * 4) / 3) + 1024,
      schema: {
        operationId: 'deployWebsiteContent',
        tags: ['websites'],
        summary: 'Replace the document root on every member host with a tar.gz of files and directories: application/gzip, or JSON {"archive": base64}.',
        params: SiteParams,
        response: { 202: Type.Ref('WebsiteChange'), ...errorResponses(400, 401, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const site = await siteOf(request.caller, request.params.site);
      const body = archiveOf(request.body);
      try {
        inspectArchive(body);
      } catch (error) {
        if (error instanceof FieldError) throw new HttpError(400, 'bad_request', error.message);
        throw error;
      }
      const sha256 = createHash('sha256').update(body).digest('hex');
      await storeArchive(sha256, body);
      const proxy: ProxyGroupRow = await db('proxy_groups').where({ id: site.proxy_group_id }).first();
      const owner = await ownerOfSite(db, site.owner_id);
      const jobs = await submitAll(db, outbox, request.caller, async (trx) =>
        Promise.all(
          (await proxyMembers(trx, proxy.id)).map(async (host) => ({
            op: websiteDeploy,
            payload: {
              host: await hostRefOf(trx, host),
              layout: layoutOf(proxy, host),
              site: { id: site.id, key: keyOf(site), owner: owner.tenant ? `up-${owner.tenant}` : null },
              archive: { sha256, bytes: body.length },
            },
            target: `website/${site.name}@${host.name}`,
            generation: site.generation,
          })),
        ),
      );
      return changed(reply, site, jobs);
    },
  );
};

/** The archive as raw application/gzip, or base64 in JSON (for clients that only speak JSON). */
function archiveOf(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  const encoded = (body as { archive?: unknown } | null)?.archive;
  if (typeof encoded === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(encoded) && encoded.length > 0) return Buffer.from(encoded, 'base64');
  throw new HttpError(415, 'unsupported_media_type', 'send the archive as application/gzip, or as JSON {"archive": "<base64>"}');
}

/** Checksum-named and written once (temp + rename), so a retried job always finds the same bytes. */
async function storeArchive(sha256: string, body: Buffer): Promise<void> {
  const dir = contentStoreDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${sha256}.${process.pid}.tmp`);
  await writeFile(temp, body, { mode: 0o600 });
  await rename(temp, join(dir, `${sha256}.tar.gz`));
}
