/**
 * An admin gives a zone to another user: how a user gets a zone they may not create themselves
 * (a reverse zone, a name a squatter held), or how a zone moves between users. The new owner
 * must be able to hold it as if they had created it; the records kept for the old owner's
 * websites must have gone first, and the new owner's websites get theirs.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import type { DnsRecordRow, DnsZoneRow } from './store.ts';
import { getUserByName, USER_NAME_PATTERN, type UserRow } from '../users/store.ts';
import type { WebsiteRow } from '../websites/store.ts';
import type { ProxyGroupRow } from '../proxies/store.ts';
import { isUnderDomain } from '../../lib/validate/web.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, conflict } from '../plugins/errors.ts';
import { requireAdmin } from '../plugins/scope.ts';
import { errorResponses, exampleOf, JOB_EXAMPLE } from '../schemas.ts';
import { jobView } from '../views.ts';
import { findZone, refuseTakenZoneName } from './zones.ts';
import { DnsZone, ZoneParam } from './schemas.ts';
import { zoneView } from './views.ts';
import { proxyRecordJobs, siteRecordJobs } from './managed.ts';
import type { JobPlan } from '../plan.ts';

export const dnsAssignRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  app.post(
    '/v1/dns/zones/:zone/assign',
    {
      schema: {
        operationId: 'assignDnsZone',
        tags: ['dns'],
        summary: 'Give a zone to another user (admin).',
        description:
          "The zone must be active. A user gets it only if they could hold it (no other user's zone, website name or proxy " +
          "wildcard at, under or above it); the name rules for users (public suffixes, .arpa) are the admin's to waive. " +
          "Records kept for other users' websites must go first; the new owner's websites get theirs (the jobs listed).",
        params: Type.Object({ zone: ZoneParam }),
        body: Type.Object(
          { user: Type.String({ pattern: USER_NAME_PATTERN, description: 'the new owner' }) },
          { additionalProperties: false, examples: [{ user: 'alice' }] },
        ),
        response: {
          200: Type.Object(
            { zone: DnsZone, jobs: Type.Array(Type.Ref('Job')) },
            {
              examples: [
                {
                  zone: exampleOf(DnsZone),
                  jobs: [
                    { ...JOB_EXAMPLE, op: 'dns.records.apply', target: 'example.net', payload: { zone: 'example.net' }, result: null },
                  ],
                },
              ],
            },
          ),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      requireAdmin(request);
      const zone = await findZone(db, request, request.params.zone);
      const user = await getUserByName(db, request.body.user);
      if (user?.status !== 'active') throw new HttpError(400, 'bad_request', `body/user: no active user named ${request.body.user}`);
      if (zone.status !== 'active' && zone.status !== 'error')
        throw conflict(`zone ${zone.name} is ${zone.status}: assign it once its server has it`);
      const jobs =
        user.id === zone.owner_id
          ? []
          : await outbox.submitPlans(
              { actor: request.caller.actor, tenant: user.role === 'admin' ? null : user.name, ownerId: user.id },
              async (trx) => {
                await refuseTakenZoneName(trx, zone.name, { id: user.id, role: user.role }, { locked: true, except: zone.id });
                await refuseOthersRecords(trx, zone, user);
                await trx('dns_zones').where({ id: zone.id }).update({ owner_id: user.id, updated_at: trx.fn.now() });
                return newOwnersRecords(trx, zone, user);
              },
            );
      const updated: DnsZoneRow = await db('dns_zones').where({ id: zone.id }).first();
      const server = await db('dns_servers').where({ id: zone.server_id }).first();
      return { zone: zoneView(updated, server, request.caller), jobs: jobs.map((job) => jobView(job, request.caller)) };
    },
  );
};

/** Records kept for another user's website (or, for a user, a proxy group's wildcard) stay with their owner: refused. */
async function refuseOthersRecords(trx: Knex, zone: DnsZoneRow, user: Pick<UserRow, 'id' | 'role'>): Promise<void> {
  const kept: (Pick<DnsRecordRow, 'name' | 'manager_kind'> & { site: string | null; site_owner: string | null; group: string | null })[] =
    await trx('dns_records as r')
      .leftJoin('websites as w', (j) => j.on('w.id', 'r.manager_id').andOnVal('r.manager_kind', 'website'))
      .leftJoin('proxy_groups as g', (j) => j.on('g.id', 'r.manager_id').andOnVal('r.manager_kind', 'proxy'))
      .where('r.zone_id', zone.id)
      .whereNotNull('r.manager_kind')
      .orderBy('r.name')
      .select('r.name', 'r.manager_kind', 'w.name as site', 'w.owner_id as site_owner', 'g.name as group');
  for (const row of kept) {
    if (row.manager_kind === 'website' && row.site_owner !== user.id) {
      throw conflict(
        `zone ${zone.name} holds ${row.name}, kept for website ${row.site} of another user: change that website's domains first`,
      );
    }
    if (row.manager_kind === 'proxy' && user.role !== 'admin')
      throw conflict(
        `zone ${zone.name} holds ${row.name}, kept for proxy group ${row.group}: only an admin's zone holds a wildcard domain`,
      );
    // Another kind's records stay with their own resource, whoever owns the zone.
    if (row.manager_kind !== 'website' && row.manager_kind !== 'proxy')
      throw conflict(`zone ${zone.name} holds ${row.name}, kept for another resource: remove it there first`);
  }
}

/** The records the new owner's websites (and, for an admin, proxy groups) keep at names in the zone. */
async function newOwnersRecords(trx: Knex, zone: DnsZoneRow, user: Pick<UserRow, 'id' | 'role'>): Promise<JobPlan[]> {
  const planned: JobPlan[] = [];
  const siteIds = (
    (await trx('website_domains').where({ owner_id: user.id }).select('domain', 'website_id')) as { domain: string; website_id: string }[]
  )
    .filter((claim) => isUnderDomain(claim.domain, zone.name))
    .map((claim) => claim.website_id);
  const sites: WebsiteRow[] = siteIds.length
    ? await trx('websites')
        .whereIn('id', [...new Set(siteIds)])
        .orderBy('name')
    : [];
  for (const site of sites) {
    const group: ProxyGroupRow = await trx('proxy_groups').where({ id: site.proxy_group_id }).first();
    planned.push(...(await siteRecordJobs(trx, site, group)));
  }
  if (user.role === 'admin') {
    const groups: ProxyGroupRow[] = await trx('proxy_groups').orderBy('name');
    for (const group of groups.filter((g) => isUnderDomain(g.wildcard_domain, zone.name)))
      planned.push(...(await proxyRecordJobs(trx, group)));
  }
  return planned;
}
