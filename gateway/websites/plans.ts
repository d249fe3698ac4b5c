/**
 * Fan-out submission: a change to a group or a site becomes one job per member host (each
 * host converges and retries on its own), written with the desired-state change in ONE
 * transaction and published afterwards through the outbox (the reconciler covers a crash).
 */
import type { Knex } from 'knex';
import type { PayloadOf } from '../../queues/operation.ts';
import { hostRefOf } from '../hosts/store.ts';
import { websiteSnapshot, type WebsiteRow } from './store.ts';
import { layoutOf, proxyMembers, publisherAddresses, type MemberRow, type ProxyGroupRow } from '../proxies/store.ts';
import { removeSiteRecordJobs } from '../dns/managed.ts';
import type { OwnedKind } from '../domain.ts';
import { websiteApply, websiteDelete, websiteDeploy } from '../../queues/websites/ops.ts';
import { plan, type JobPlan } from '../plan.ts';
import { tenantJobs } from '../users/plans.ts';
import { siteContainersOf } from './container-upstreams.ts';

/** Owner's name (for the temporary subdomain) and tenant (for the Unix user) of a site. */
export async function ownerOfSite(db: Knex, ownerId: string): Promise<{ name: string; tenant: string | null }> {
  const user: { name: string; role: string } | undefined = await db('users').where({ id: ownerId }).first('name', 'role');
  if (!user) throw new Error(`website owner ${ownerId} does not exist`);
  return { name: user.name, tenant: user.role === 'admin' ? null : user.name };
}

/** One website.apply per member host, each converging to the site's current generation. */
export async function applyJobs(db: Knex, group: ProxyGroupRow, hosts: MemberRow[], site: WebsiteRow): Promise<JobPlan[]> {
  return Promise.all(hosts.map(async (host) => plan({ op: websiteApply, ...(await websiteApplyOn(db, group, host, site)) })));
}

/** What a website.apply on one member carries (also what its repair carries). */
export async function websiteApplyOn(db: Knex, group: ProxyGroupRow, host: MemberRow, site: WebsiteRow) {
  const owner = await ownerOfSite(db, site.owner_id);
  const payload: PayloadOf<typeof websiteApply> = {
    host: await hostRefOf(db, host),
    layout: layoutOf(group, host),
    site: {
      ...websiteSnapshot(site, keyOf(site), owner.tenant),
      ...(await siteContainersOf(db, site)),
      ...(site.spec.routes.some((r) => typeof r.upstream === 'string') ? { publishers: await publisherAddresses(db) } : {}),
    },
  };
  return { payload, target: `website/${site.name}@${host.name}`, generation: site.generation };
}

/** The archive a site serves now, as a deploy carries it; null before its first upload. */
export function currentArchive(site: Pick<WebsiteRow, 'content_sha256' | 'content_bytes'>): { sha256: string; bytes: number } | null {
  return site.content_sha256 ? { sha256: site.content_sha256, bytes: Number(site.content_bytes) } : null;
}

/**
 * One website.deploy of the archive per host: every member after an upload, a member that
 * joined (or came back) for the content it must serve.
 */
export async function deployJobs(
  db: Knex,
  group: ProxyGroupRow,
  hosts: MemberRow[],
  site: WebsiteRow,
  archive: { sha256: string; bytes: number },
): Promise<JobPlan[]> {
  const owner = await ownerOfSite(db, site.owner_id);
  return Promise.all(
    hosts.map(async (host) =>
      plan({
        op: websiteDeploy,
        payload: {
          host: await hostRefOf(db, host),
          layout: layoutOf(group, host),
          site: { id: site.id, key: keyOf(site), owner: owner.tenant ? `up-${owner.tenant}` : null },
          archive,
        },
        target: `website/${site.name}@${host.name}`,
        generation: site.generation,
      }),
    ),
  );
}

/**
 * What a member needs to serve these sites, in the order it needs it: the owners' Unix users
 * (where the host has not reported them), each site's vhost, then its current content.
 * The site jobs wait (retrying) for the Unix user; a deploy needs no vhost.
 */
export async function memberSiteJobs(db: Knex, group: ProxyGroupRow, hosts: MemberRow[], sites: WebsiteRow[]): Promise<JobPlan[]> {
  const planned = await tenantJobs(
    db,
    sites.map((s) => s.owner_id),
    hosts,
  );
  for (const site of sites) {
    planned.push(...(await applyJobs(db, group, hosts, site)));
    const archive = currentArchive(site);
    if (archive) planned.push(...(await deployJobs(db, group, hosts, site, archive)));
  }
  return planned;
}

export async function deleteJobs(db: Knex, group: ProxyGroupRow, hosts: MemberRow[], site: WebsiteRow): Promise<JobPlan[]> {
  return Promise.all(
    hosts.map(async (host) =>
      plan({
        op: websiteDelete,
        payload: {
          host: await hostRefOf(db, host),
          layout: layoutOf(group, host),
          site: { id: site.id, key: keyOf(site), generation: site.generation },
        },
        target: `website/${site.name}@${host.name}`,
        generation: site.generation,
      }),
    ),
  );
}

/** The key is the temporary subdomain's first label. */
export const keyOf = (site: Pick<WebsiteRow, 'temp_domain'>) => site.temp_domain.split('.')[0];

/**
 * Deleting a site: its names are released and its row goes now (its records and certificate
 * rows with it); every member host removes the vhost, document root and certificate files.
 */
export async function siteRemoval(trx: Knex.Transaction, site: WebsiteRow): Promise<JobPlan[]> {
  const dnsJobs = await removeSiteRecordJobs(trx, site);
  await trx('websites').where({ id: site.id }).delete();
  const proxy: ProxyGroupRow = await trx('proxy_groups').where({ id: site.proxy_group_id }).first();
  return [...(await deleteJobs(trx, proxy, await proxyMembers(trx, proxy.id), { ...site, generation: site.generation + 1 })), ...dnsJobs];
}

/** Deleting a user deletes their sites the way DELETE /v1/websites/:site does. */
export const OWNED_SITE_KIND: OwnedKind = {
  kind: 'websites',
  table: 'websites',
  planRemoval: (trx, row) => siteRemoval(trx, row as unknown as WebsiteRow),
};

/** A new generation of each site, applied on every member: what its container routes resolve to has changed. */
export async function rerenderJobs(trx: Knex.Transaction, sites: WebsiteRow[]): Promise<JobPlan[]> {
  const planned: JobPlan[] = [];
  for (const site of sites) {
    const [row]: WebsiteRow[] = await trx('websites')
      .where({ id: site.id })
      .update({ generation: trx.raw('generation + 1'), updated_at: trx.fn.now() })
      .returning('*');
    if (!row) continue;
    const group: ProxyGroupRow = await trx('proxy_groups').where({ id: row.proxy_group_id }).first();
    const members = await proxyMembers(trx, group.id);
    planned.push(...(await tenantJobs(trx, [row.owner_id], members)), ...(await applyJobs(trx, group, members, row)));
  }
  return planned;
}
