/**
 * Every site is checked on every member of its group: its vhost in place and current, its
 * deployed content there, the site answering. A failing one is repaired by the website.apply
 * the API plans (as health.repair.website), with the site's current archive when the content is gone;
 * a stopped nginx or an unreachable host is the proxy's or the host's to alarm, an app's replicas
 * that do not answer (502) the app's.
 */
import type { Knex } from 'knex';
import type { CheckResult } from '../../queues/health/checks.ts';
import { healthCheckWebsite, healthRepairWebsite } from '../../queues/websites/health.ts';
import type { CheckKind } from '../domain.ts';
import { FAIL_AFTER, hasCause, ON_PROXY, REPAIR_AFTER } from '../health/policy.ts';
import { plan, type JobPlan } from '../plan.ts';
import { layoutOf, proxyMembers, type ProxyGroupRow } from '../proxies/store.ts';
import { proxyTargets, splitKey, type MemberTarget } from '../proxies/targets.ts';
import { currentArchive, keyOf, websiteApplyOn } from './plans.ts';
import type { WebsiteRow } from './store.ts';

const websiteKey = (siteKey: string, host: string) => `${siteKey}@${host}`;

/** The site whose temporary subdomain starts with this key, and its group's member `host`. */
async function websiteTarget(db: Knex, key: string): Promise<(MemberTarget & { site: WebsiteRow }) | null> {
  const names = splitKey(key);
  if (!names) return null;
  const sites: WebsiteRow[] = await db('websites').where('temp_domain', 'like', `${names[0]}.%`);
  for (const site of sites) {
    const group: ProxyGroupRow | undefined = await db('proxy_groups').where({ id: site.proxy_group_id }).first();
    const member = group && (await proxyMembers(db, group.id)).find((m) => m.name === names[1]);
    if (group && member) return { group, member, site };
  }
  return null;
}

async function repairWebsite(db: Knex, check: CheckResult): Promise<JobPlan | null> {
  // A stopped nginx is the proxy's to repair; an unreachable host is nobody's.
  if (
    hasCause(check, 'unreachable', 'proxy-down') ||
    !hasCause(check, 'vhost-missing', 'vhost-stale', 'not-served', 'not-answering', 'server-error', 'content-missing')
  )
    return null;
  const target = await websiteTarget(db, check.resource.key);
  if (!target) return null;
  const apply = await websiteApplyOn(db, target.group, target.member, target.site);
  // A member that lost its content (or joined without it) gets the site's current archive again.
  const archive = hasCause(check, 'content-missing') ? currentArchive(target.site) : null;
  const payload = archive ? { ...apply.payload, archive } : apply.payload;
  return plan({ op: healthRepairWebsite, ...apply, payload, ownerId: target.site.owner_id });
}

export const websiteChecks: CheckKind = {
  type: 'website',
  op: healthCheckWebsite,
  async plan(db, round) {
    const members = await proxyTargets(db);
    const sites: (WebsiteRow & { app: boolean })[] = await db('websites as w')
      .select('w.*', db.raw('exists (select 1 from apps a where a.website_id = w.id) as app'))
      .orderBy('w.temp_domain');
    const planned: JobPlan[] = [];
    for (const site of sites) {
      for (const { group, member } of members.filter((m) => m.group.id === site.proxy_group_id)) {
        const key = websiteKey(keyOf(site), member.name);
        const spec = {
          id: site.id,
          key: keyOf(site),
          generation: site.generation,
          tempDomain: site.temp_domain,
          content: Boolean(site.content_sha256),
          ...(site.app ? { app: true } : {}),
        };
        const payload = {
          resource: { type: 'website', key },
          host: await round.refOf(member),
          layout: layoutOf(group, member),
          site: spec,
        };
        planned.push(plan({ op: healthCheckWebsite, payload, target: key }));
      }
    }
    return planned;
  },
  policy: { failAfter: FAIL_AFTER, causedElsewhere: [...ON_PROXY, 'app-down'], repair: { after: REPAIR_AFTER, plan: repairWebsite } },
  owner: async (db, key) => (await websiteTarget(db, key))?.site.owner_id ?? null,
};
