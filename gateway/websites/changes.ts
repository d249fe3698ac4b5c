/**
 * The checks and plans of a website change, shared by its routes and by the domains that make
 * websites of their own (an app's site): names, upstreams, and the jobs of a create, all inside
 * the caller's transaction so that a composite change is one desired state.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Static } from 'typebox';
import { claimConflicts, claimedNames, replaceClaims, siteKey, type StoredSpec, type WebsiteRow } from './store.ts';
import { getProxy, proxyMembers, upstreamPolicy, wildcardDomains, type ProxyGroupRow } from '../proxies/store.ts';
import { isPublicSuffix, isUnderDomain, type WebsiteCreate } from '../../lib/validate/web.ts';
import { parseEndpoint, upstreamRefusal } from '../../lib/validate/upstream.ts';
import { HttpError, conflict } from '../plugins/errors.ts';
import { enforceLimit } from '../plugins/limits.ts';
import type { Caller } from '../plugins/auth.ts';
import type { JobPlan } from '../plan.ts';
import { DEFAULT_SPEC, mergeSpec } from './spec.ts';
import { applyJobs, ownerOfSite } from './plans.ts';
import { checkContainerRoutes } from './container-upstreams.ts';
import { siteRecordJobs } from '../dns/managed.ts';
import { siteCertificateJobs } from '../certificates/plans.ts';
import { tenantJobs } from '../users/plans.ts';

/**
 * Names must be free, not a public suffix, clear of every proxy wildcard domain (under it:
 * temporary subdomains; above it: the provider's own domain), and neither under nor above
 * a name another user's site claims or a DNS zone another user hosts here. Refusals name only
 * the caller's own names, never what another user holds.
 */
export async function checkNames(trx: Knex, spec: StoredSpec, site: { id: string | null; owner_id: string }): Promise<string[]> {
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
export async function checkUpstreams(
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

export interface WebsiteCreateOptions {
  /**
   * false: the routes are the platform's, not the caller's (an app's site routes to its
   * replicas before the first deploy made them): a container that is not there yet answers 502.
   */
  routesInBody?: boolean;
}

/**
 * A new site of the caller's, written in `trx` with its jobs planned: the owner's Unix user on
 * every member, the vhost, the DNS records and the certificates. 404 for an unknown proxy
 * group, 409 for a name or temporary subdomain already taken, 422 over the plan.
 */
export async function planWebsiteCreate(
  trx: Knex.Transaction,
  caller: Caller,
  body: Static<typeof WebsiteCreate>,
  { routesInBody = true }: WebsiteCreateOptions = {},
): Promise<{ site: WebsiteRow; plans: JobPlan[] }> {
  const { name, proxy: proxyName, ...fields } = body;
  const spec = await mergeSpec(DEFAULT_SPEC, fields);
  const proxy = await getProxy(trx, proxyName);
  if (!proxy) throw new HttpError(404, 'not_found', 'proxy group not found');
  const owner = await ownerOfSite(trx, caller.userId);
  const site: WebsiteRow = {
    id: randomUUID(),
    name,
    owner_id: caller.userId,
    proxy_group_id: proxy.id,
    temp_domain: `${siteKey(name, owner.name)}.${proxy.wildcard_domain}`,
    spec,
    generation: 1,
    tls: false,
    created_at: new Date(),
    updated_at: new Date(),
  };
  await enforceLimit(trx, caller, 'websites', trx('websites').where({ owner_id: caller.userId }));
  if (await trx('websites').where({ owner_id: site.owner_id, name }).first('id'))
    throw conflict(`you already have a website named ${name}`);
  // Temporary subdomains are public: saying this one is taken tells nothing a request to it would not.
  if (await trx('websites').where({ temp_domain: site.temp_domain }).first('id'))
    throw conflict(`the temporary subdomain ${site.temp_domain} is taken: choose another name`);
  await checkUpstreams(trx, proxy, { owner_id: site.owner_id, tenant: owner.tenant }, spec, routesInBody);
  const names = await checkNames(trx, spec, { id: null, owner_id: site.owner_id });
  await trx('websites').insert({ ...site, spec: JSON.stringify(spec) });
  await replaceClaims(trx, site, names);
  const dnsJobs = await siteRecordJobs(trx, site, proxy);
  const members = await proxyMembers(trx, proxy.id);
  const plans = [
    // The owner's Unix user first: the site's jobs wait for it on each member.
    ...(await tenantJobs(trx, [site.owner_id], members)),
    ...(await applyJobs(trx, proxy, members, site)),
    ...dnsJobs,
    ...(await siteCertificateJobs(trx, site)),
  ];
  return { site, plans };
}
